/**
 * Reading a config or rule file: permissions (a group- or world-writable file is refused as root: it leads to root
 * commands), size, and UTF-8 with the position of the first invalid byte.
 */
import { readFile, stat } from "node:fs/promises";
import type { ConfigError } from "./errors.js";

export interface LoadOptions {
  /**
   * Refuse group- or world-writable files, as when running as root (they lead to root commands).
   * Default: whether this process runs as root.
   */
  readonly asRoot?: boolean;
}

// Reading files

export type SourceResult = { ok: true; text: string } | { ok: false; errors: ConfigError[] };

export async function readSource(file: string, opts: LoadOptions): Promise<SourceResult> {
  const asRoot = opts.asRoot ?? process.getuid?.() === 0;
  let buf: Buffer;
  try {
    const st = await stat(file);
    if (st.isDirectory()) return fileError(file, "is a directory; expected a YAML file");
    if (asRoot && (st.mode & 0o022) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      const who = st.mode & 0o002 ? "world" : "group";
      return fileError(
        file,
        `refusing a ${who}-writable file (mode ${mode}) while running as root: whoever can write it can make ` +
          `standby run commands as root; fix with: chmod go-w ${file}`,
      );
    }
    buf = await readFile(file);
  } catch (e) {
    return fileError(file, `cannot read the file: ${fsReason(e)}`);
  }
  return decode(buf, file);
}

export function fsReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const reasons: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "is a directory",
    ENOTDIR: "a parent is not a directory",
    ELOOP: "too many symbolic links",
  };
  if (typeof code === "string") return reasons[code] ? `${reasons[code]} (${code})` : code;
  return e instanceof Error ? e.message : String(e);
}

export function fileError(file: string, message: string): SourceResult {
  return { ok: false, errors: [{ file, message }] };
}

/** UTF-8 text, or an error at the first byte that is not (binary garbage is an error, never a crash). */
export function decode(buf: Buffer, file: string): SourceResult {
  const bad = firstInvalidUtf8(buf);
  if (bad >= 0) {
    const before = buf.subarray(0, bad).toString("utf8");
    const byte = buf[bad]!.toString(16).padStart(2, "0");
    return {
      ok: false,
      errors: [
        { file, ...textPos(before), message: `not UTF-8 text (byte 0x${byte}); expected a YAML file` },
      ],
    };
  }
  let text = buf.toString("utf8");
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    return {
      ok: false,
      errors: [
        {
          file,
          ...textPos(text.slice(0, nul)),
          message: "a NUL byte: this is a binary file; expected YAML text",
        },
      ],
    };
  }
  return { ok: true, text };
}

export function textPos(before: string): { line: number; col: number } {
  const lines = before.split("\n");
  return { line: lines.length, col: (lines[lines.length - 1] ?? "").length + 1 };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence; -1 when all are valid. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

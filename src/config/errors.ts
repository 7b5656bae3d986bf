/** Config errors: what every loader returns instead of throwing, and how they print (`FILE:LINE:COL: ...`). */

export interface ConfigError {
  readonly file: string;
  /** 1-based; absent when the problem is with the file as a whole (it cannot be read). */
  readonly line?: number;
  readonly col?: number;
  /** What the error is about: `rule "gw-a-down": problem`, `group "uplink": member "isp-b"`. */
  readonly context?: string;
  readonly message: string;
  /** A warning does not make the config invalid (`standby check` prints it and exits 0). */
  readonly severity?: "warning";
}

/** `FILE:LINE:COL: CONTEXT: message` (or `FILE: message` for a file that cannot be read); always one line. */
export function formatError(e: ConfigError): string {
  const where = e.line !== undefined ? `${e.file}:${e.line}:${e.col ?? 1}` : e.file;
  const warning = e.severity === "warning" ? "warning: " : "";
  return oneLine(`${where}: ${warning}${e.context ? `${e.context}: ` : ""}${e.message}`);
}

/** Control characters (a newline inside a quoted value) escaped, so that an error stays on its line. */
function oneLine(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

export function fail(errors: ConfigError[]): { ok: false; errors: ConfigError[] } {
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const s = formatError(e);
    if (seen.has(s)) return false;
    seen.add(s);
    return true;
  });
  unique.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.col ?? 0) - (b.col ?? 0),
  );
  return { ok: false, errors: unique };
}

export function internalError(file: string, e: unknown): ConfigError {
  const message = e instanceof Error ? e.message : String(e);
  return { file, message: `internal error while loading (please report it): ${message}` };
}

/** Whatever happens inside, an error list comes out, never an exception. */
export async function guard<T>(file: string, f: () => Promise<T | { ok: false; errors: ConfigError[] }>) {
  try {
    return await f();
  } catch (e) {
    return { ok: false as const, errors: [internalError(file, e)] };
  }
}

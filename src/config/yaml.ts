/**
 * YAML with positions: parsing (duplicate keys, several documents, anchors), the node and the line and column
 * of a path in the data, the context of an error (`rule "x": problem`), and columns inside a scalar (a condition's
 * parse error points at its character in the YAML string, whatever the quoting style).
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type Scalar,
  type YAMLMap,
} from "yaml";
import type { SourcePos } from "../engine/types.js";
import { type ConfigError, internalError } from "./errors.js";

// YAML with positions

export type Kind = "config" | "rules";

export interface SourceFile {
  readonly file: string;
  readonly kind: Kind;
  readonly text: string;
  readonly doc: Document.Parsed | undefined;
  readonly lc: LineCounter;
  /** The document as plain data (null for an empty document). */
  readonly data: unknown;
  readonly errors: ConfigError[];
  /** The YAML itself is broken: no validation beyond this point. */
  readonly fatal: boolean;
}

export function parseYaml(text: string, file: string, kind: Kind): SourceFile {
  const lc = new LineCounter();
  const errors: ConfigError[] = [];
  const base = { file, kind, text, lc };
  let docs: Document.Parsed[];
  try {
    docs = [
      ...parseAllDocuments(text, {
        lineCounter: lc,
        uniqueKeys: false,
        prettyErrors: false,
        // `<<: *anchor` merge keys, as many YAML users expect; and no process warnings from the parser.
        merge: true,
        logLevel: "error",
      }),
    ];
  } catch (e) {
    return { ...base, doc: undefined, data: null, errors: [internalError(file, e)], fatal: true };
  }
  const doc = docs[0];
  const mk = (offset: number, message: string): ConfigError => ({ file, ...lc.linePos(offset), message });
  for (const d of docs) {
    for (const e of d.errors) errors.push(mk(e.pos[0], `invalid YAML: ${lowerFirst(e.message)}`));
  }
  if (docs.length > 1) {
    errors.push(
      mk(
        docs[1]!.range[0],
        "a second YAML document (after `---`); expected one document: remove the separator",
      ),
    );
  }
  if (errors.length > 0) return { ...base, doc, data: null, errors, fatal: true };

  let data: unknown = null;
  if (doc) {
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return {
        ...base,
        doc,
        data: null,
        errors: [mk(0, `invalid YAML: ${lowerFirst(message)}`)],
        fatal: true,
      };
    }
  }
  const f: SourceFile = { ...base, doc, data, errors, fatal: false };
  if (doc) duplicateKeys(f, doc.contents, [], 0);
  return f;
}

export function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/** Duplicate keys in any map, each reported at the later key with where the first one is. */
export function duplicateKeys(f: SourceFile, node: unknown, p: Path, depth: number): void {
  if (depth > 100) return;
  if (isMap(node)) {
    const firsts = new Map<string, number>();
    for (const pair of node.items) {
      const k = keyString(pair.key);
      if (k !== undefined) {
        const first = firsts.get(k);
        const off = (pair.key as Node).range?.[0] ?? 0;
        if (first !== undefined) {
          f.errors.push({
            file: f.file,
            ...f.lc.linePos(off),
            ...ctx(f, p),
            message: `duplicate key "${k}"; the first one is at line ${f.lc.linePos(first).line}`,
          });
        } else firsts.set(k, off);
      }
      duplicateKeys(f, pair.value, k === undefined ? p : [...p, k], depth + 1);
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) duplicateKeys(f, item, [...p, i], depth + 1);
  }
}

export function keyString(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

export type Path = readonly (string | number)[];

export function deref(f: SourceFile, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 10 && isAlias(n); i++) n = f.doc ? n.resolve(f.doc) : undefined;
  return n;
}

/** The node at `p`, or the deepest one that exists on the way; `exact` tells which. */
export function nodeAt(f: SourceFile, p: Path): { node: Node | undefined; exact: boolean } {
  let cur: unknown = f.doc?.contents ?? undefined;
  for (const seg of p) {
    const here = deref(f, cur);
    let next: unknown;
    if (isMap(here)) {
      const pair = (here as YAMLMap).items.find((it) => isPair(it) && keyString(it.key) === String(seg));
      if (!pair) return { node: here as Node, exact: false };
      // `key:` with no value: the key's position.
      next = pair.value ?? pair.key;
    } else if (isSeq(here) && typeof seg === "number" && here.items[seg] !== undefined) {
      next = here.items[seg];
    } else {
      return { node: (here as Node | undefined) ?? undefined, exact: false };
    }
    cur = next;
  }
  return { node: (cur as Node | undefined) ?? undefined, exact: true };
}

export function offsetOf(node: Node | undefined): number {
  return node?.range?.[0] ?? 0;
}

export function posOf(f: SourceFile, p: Path): { line: number; col: number } {
  return f.lc.linePos(offsetOf(nodeAt(f, p).node));
}

export function sourceOf(f: SourceFile, p: Path): SourcePos {
  return { file: f.file, ...posOf(f, p) };
}

/** An error at the node at `p`, with the context of `p`. */
export function at(f: SourceFile, p: Path, message: string, offset?: number): ConfigError {
  const off = offset ?? offsetOf(nodeAt(f, p).node);
  return { file: f.file, ...f.lc.linePos(off), ...ctx(f, p), message };
}

// ---------------------------------------------------------------------------------------------------------
// Context: `rule "gw-a-down": problem`, `group "uplink": member "isp-b": activate[0].route`

export function ctx(f: SourceFile, p: Path): { context?: string } {
  const c = contextOf(f, p);
  return c ? { context: c } : {};
}

export function contextOf(f: SourceFile, p: Path): string {
  const parts: string[] = [];
  let field = "";
  let cur: unknown = f.data;
  let prevEntity = "";
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    const next = p[i + 1];
    const entity =
      typeof seg === "string" && typeof next === "number" && field === ""
        ? entityOf(f.kind, seg, i, prevEntity)
        : undefined;
    if (entity && typeof next === "number") {
      const item = get(get(cur, seg), next);
      const n = get(item, "name");
      parts.push(typeof n === "string" && n !== "" ? `${entity} "${n}"` : `${entity} #${next + 1}`);
      prevEntity = entity;
      cur = item;
      i++;
      continue;
    }
    field += typeof seg === "number" ? `[${seg}]` : field === "" ? seg : `.${seg}`;
    cur = get(cur, seg);
  }
  if (field) parts.push(field);
  return parts.join(": ");
}

export function entityOf(kind: Kind, seg: string, depth: number, prev: string): string | undefined {
  if (depth === 0 && kind === "rules" && seg === "rules") return "rule";
  if (depth === 0 && kind === "config" && seg === "groups") return "group";
  if (depth === 0 && kind === "config" && seg === "collectors") return "collector";
  if (depth === 2 && prev === "group" && seg === "members") return "member";
  return undefined;
}

/** A property of plain data, or undefined. */
export function get(v: unknown, k: string | number): unknown {
  if (v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) return typeof k === "number" ? v[k] : undefined;
  return Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
}

export function has(v: unknown, p: Path): boolean {
  let cur = v;
  for (const seg of p) {
    if (cur === null || typeof cur !== "object") return false;
    if (Array.isArray(cur) ? typeof seg !== "number" || seg >= cur.length : !Object.hasOwn(cur, seg))
      return false;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return true;
}

export function scalarOffset(text: string, node: Scalar, valueOffset: number): number {
  const [start, end] = node.range!;
  const raw = text.slice(start, end);
  let i: number;
  switch (node.type) {
    case "BLOCK_LITERAL":
    case "BLOCK_FOLDED":
      i = blockOffset(raw, valueOffset);
      break;
    case "QUOTE_DOUBLE":
      i = flowOffset(raw, 1, valueOffset, "double");
      break;
    case "QUOTE_SINGLE":
      i = flowOffset(raw, 1, valueOffset, "single");
      break;
    default:
      i = flowOffset(raw, 0, valueOffset, "plain");
  }
  return start + Math.max(0, Math.min(i, Math.max(0, raw.length - 1)));
}

/** Walks a flow scalar's source from `i`, one value character at a time, until `target` characters. */
export function flowOffset(
  raw: string,
  i: number,
  target: number,
  style: "plain" | "single" | "double",
): number {
  let v = 0;
  while (v < target && i < raw.length) {
    const c = raw[i]!;
    if (style === "double" && c === "\\") {
      const e = raw[i + 1];
      if (e === "\n" || e === "\r") {
        i += 2;
        while (i < raw.length && /[ \t\r\n]/.test(raw[i]!)) i++;
        continue;
      }
      i += e === "x" ? 4 : e === "u" ? 6 : e === "U" ? 10 : 2;
      v++;
      continue;
    }
    if (style === "single" && c === "'" && raw[i + 1] === "'") {
      i += 2;
      v++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      let j = i;
      while (j < raw.length && /[ \t\r\n]/.test(raw[j]!)) j++;
      const newlines = (raw.slice(i, j).match(/\n/g) ?? []).length;
      if (newlines === 0) {
        i++;
        v++;
        continue;
      }
      v += newlines === 1 ? 1 : newlines - 1;
      i = j;
      continue;
    }
    i++;
    v++;
  }
  return i;
}

/** A block scalar: skip the header line, then map value lines to indented source lines. */
export function blockOffset(raw: string, target: number): number {
  const nl = raw.indexOf("\n");
  if (nl < 0) return 0;
  const lines = raw.slice(nl + 1).split("\n");
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length),
    1e9,
  );
  let v = 0;
  let src = nl + 1;
  for (const line of lines) {
    const content = Math.max(0, line.length - indent);
    if (target <= v + content) return src + Math.min(indent, line.length) + (target - v);
    v += content + 1;
    src += line.length + 1;
  }
  return src;
}

/** zod's issues → ConfigErrors with positions and messages that say what was expected. */
import { isMap, isScalar, type Node } from "yaml";
import type { z } from "zod";
import type { ConfigError } from "./errors.js";
import { describeValue } from "./fields.js";
import {
  at,
  deref,
  get,
  has,
  type Kind,
  keyString,
  nodeAt,
  offsetOf,
  type Path,
  type SourceFile,
  scalarOffset,
} from "./yaml.js";

// zod issues → errors

export const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a map (key: value)",
  record: "a map (key: value)",
  null: "nothing",
};

export const NO_FORM = "matches none of the allowed forms";

/** Human messages for zod's issues; schema-level messages (schema.ts) take precedence over these. */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case "invalid_type":
      return `found ${describeValue(iss.input)}; expected ${EXPECTED[iss.expected] ?? iss.expected}`;
    case "too_small":
    case "too_big": {
      const small = iss.code === "too_small";
      const limit = small ? iss.minimum : iss.maximum;
      const bound = `${small ? "at least" : "at most"} ${String(limit)}`;
      const strict = `${small ? "more" : "less"} than ${String(limit)}`;
      if (iss.origin === "array") return `${small ? "too few" : "too many"} items; expected ${bound}`;
      if (iss.origin === "string") {
        return small && limit === 1
          ? "must not be empty"
          : `${describeValue(iss.input)} is too long; expected ${bound} characters`;
      }
      return `${describeValue(iss.input)} is out of range; expected ${iss.inclusive === false ? strict : bound}`;
    }
    case "invalid_value":
      return `unknown value ${describeValue(iss.input)}; expected one of: ${iss.values.map(String).join(", ")}`;
    case "invalid_format":
      return `${describeValue(iss.input)} is not a valid ${iss.format}`;
    case "not_multiple_of":
      return `${describeValue(iss.input)} is not a multiple of ${String(iss.divisor)}`;
    case "unrecognized_keys": {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
        ?.def?.shape;
      return shape ? Object.keys(shape).join(", ") : "";
    }
    case "invalid_union":
      return NO_FORM;
    case "invalid_key":
      return `invalid key ${describeValue(iss.input)}`;
    case "invalid_element":
      return `invalid item ${describeValue(iss.input)}`;
    default:
      return undefined;
  }
};

export function mapIssues(
  issues: readonly z.core.$ZodIssue[],
  base: Path,
  f: SourceFile,
  out: ConfigError[],
): void {
  for (const issue of issues) {
    const p: Path = [...base, ...issue.path.map((s) => (typeof s === "number" ? s : String(s)))];
    switch (issue.code) {
      case "unrecognized_keys": {
        const { node } = nodeAt(f, p);
        const map = deref(f, node);
        for (const k of issue.keys) {
          const pair = isMap(map) ? map.items.find((it) => keyString(it.key) === k) : undefined;
          const expected = issue.message ? `; expected one of: ${issue.message}` : "";
          out.push(at(f, p, `unknown key "${k}"${expected}`, pair ? offsetOf(pair.key as Node) : undefined));
        }
        break;
      }
      case "invalid_union":
        mapUnion(issue, p, f, out);
        break;
      case "invalid_type":
        if (p.length > 0 && !has(f.data, p)) {
          out.push(at(f, p.slice(0, -1), `missing required key "${String(p[p.length - 1])}"`));
        } else if (p.length === 0 && (f.data === null || f.data === undefined)) {
          out.push({ file: f.file, line: 1, col: 1, message: emptyMessage(f.kind) });
        } else if (p.length === 0 && issue.expected === "object") {
          out.push({
            file: f.file,
            ...f.lc.linePos(offsetOf(nodeAt(f, []).node)),
            message: `found ${describeValue(f.data)}; ${expectedRoot(f.kind)}`,
          });
        } else out.push(at(f, p, issue.message));
        break;
      case "custom": {
        const offset = (issue.params as { offset?: unknown } | undefined)?.offset;
        out.push(
          at(f, p, issue.message, typeof offset === "number" ? conditionOffset(f, p, offset) : undefined),
        );
        break;
      }
      default:
        out.push(at(f, p, issue.message));
    }
  }
}

export function expectedRoot(kind: Kind): string {
  return kind === "rules"
    ? "expected a map with a list of rules: `rules: [{name: ..., metric: ..., problem: ...}]`"
    : "expected a map with keys such as rules, collectors, groups";
}

export function emptyMessage(kind: Kind): string {
  return `the file is empty; ${expectedRoot(kind)}`;
}

/**
 * A union none of whose forms fits. A discriminated union says which discriminator values exist. Otherwise,
 * when the value has the shape of one form (its issues are all inside the value, none about the value
 * itself), that form's issues are reported; if none has, the union's own message is.
 */
export function mapUnion(
  issue: z.core.$ZodIssueInvalidUnion,
  p: Path,
  f: SourceFile,
  out: ConfigError[],
): void {
  if (issue.discriminator !== undefined) {
    const options = [...new Set((("options" in issue ? issue.options : undefined) ?? []).map(String))];
    const key = issue.discriminator;
    const parent = p[p.length - 1] === key ? p.slice(0, -1) : p;
    const expected = `expected one of: ${options.join(", ")}`;
    // A schema-level message (e.g. "collector type ... is not available in this build") takes precedence.
    const own = issue.message && issue.message !== NO_FORM ? issue.message : undefined;
    if (!has(f.data, [...parent, key]))
      out.push(at(f, parent, own ?? `missing required key "${key}"; ${expected}`));
    else {
      const v = get(nodeValue(f, parent), key);
      out.push(at(f, [...parent, key], own ?? `unknown value ${describeValue(v)}; ${expected}`));
    }
    return;
  }
  const rootLevel = (i: z.core.$ZodIssue) =>
    i.path.length === 0 ||
    (i.path.length === 1 && i.code === "invalid_type" && !has(f.data, [...p, i.path[0] as string | number]));
  let best: z.core.$ZodIssue[] | undefined;
  for (const branch of issue.errors) {
    if (branch.length > 0 && !branch.some(rootLevel) && (!best || branch.length < best.length)) best = branch;
  }
  if (best) mapIssues(best, p, f, out);
  else out.push(at(f, p, issue.message || NO_FORM));
}

export function nodeValue(f: SourceFile, p: Path): unknown {
  let cur = f.data;
  for (const seg of p) cur = get(cur, seg);
  return cur;
}

/** The source offset of character `offset` of the string value at `p` (quotes, escapes, folding counted). */
export function conditionOffset(f: SourceFile, p: Path, offset: number): number | undefined {
  const { node, exact } = nodeAt(f, p);
  if (!exact || !isScalar(node) || typeof node.value !== "string" || !node.range) return undefined;
  return scalarOffset(f.text, node, offset);
}

/**
 * Loads and validates `standby.yaml` and rule files. Never throws for bad input: every problem becomes a
 * ConfigError with the file, line and column of the YAML node it concerns, and all of them are returned
 * (not only the first), sorted by file, line and column.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
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
import type { z } from "zod";
import type { RuleSpec, SourcePos } from "../engine/types.js";
import type { GroupSpec } from "../groups/types.js";
import { formatDuration, formatSpan } from "../util/duration.js";
import { type Config, configSchema, describeValue, ruleFileSchema } from "./schema.js";

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

export type ConfigResult =
  | { ok: true; config: Config; warnings?: ConfigError[] }
  | { ok: false; errors: ConfigError[] };
export type RulesResult =
  | { ok: true; rules: RuleSpec[]; files: string[] }
  | { ok: false; errors: ConfigError[] };

export interface LoadOptions {
  /**
   * Refuse group- or world-writable files, as when running as root (they lead to root commands).
   * Default: whether this process runs as root.
   */
  readonly asRoot?: boolean;
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

// ---------------------------------------------------------------------------------------------------------
// Public entry points

/** Loads standby.yaml and the rule files its `rules:` globs name. */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<ConfigResult> {
  return guard(file, async () => {
    const src = await readSource(file, opts);
    if (!src.ok) return { ok: false, errors: src.errors };
    return loadConfigText(src.text, file, opts);
  });
}

/** Validates standby.yaml from its text; rule files are still read from disk, relative to `file`'s directory. */
export async function loadConfigText(
  text: string,
  file: string,
  opts: LoadOptions = {},
): Promise<ConfigResult> {
  return guard(file, () => loadConfigInner(text, file, opts));
}

/** Loads one rule file. */
export async function loadRuleFile(file: string, opts: LoadOptions = {}): Promise<RulesResult> {
  return loadRuleFiles([file], opts);
}

/** Loads rule files together: each is validated, and rule names must be unique across them. */
export async function loadRuleFiles(files: readonly string[], opts: LoadOptions = {}): Promise<RulesResult> {
  return guard(files[0] ?? "-", async () => {
    const loaded: RuleFileLoad[] = [];
    for (const file of files) loaded.push(await readRuleFile(file, opts));
    return finishRules(loaded);
  });
}

/** Validates a rule file from its text (for tests and for editors). */
export function loadRuleFileText(text: string, file: string): RulesResult {
  try {
    return finishRules([parseRuleFile(text, file)]);
  } catch (e) {
    return { ok: false, errors: [internalError(file, e)] };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Config

async function loadConfigInner(text: string, file: string, opts: LoadOptions): Promise<ConfigResult> {
  const f = parseYaml(text, file, "config");
  const errors: ConfigError[] = [...f.errors];
  if (f.fatal) return fail(errors);

  const parsed = configSchema.safeParse(f.data, { error: errorMap });
  if (!parsed.success) mapIssues(parsed.error.issues, [], f, errors);

  // Rule files named by the globs, even when something else is wrong, so that all errors show at once.
  const dir = path.dirname(file);
  const ruleLoads: RuleFileLoad[] = [];
  const seen = new Set<string>();
  const globs = get(f.data, "rules");
  // Whether every rule is known: if not, a health rule that seems missing may well be in what failed.
  let allGlobsLoaded = globs === undefined || Array.isArray(globs);
  if (Array.isArray(globs)) {
    for (const [i, pattern] of globs.entries()) {
      if (typeof pattern !== "string" || pattern === "") {
        allGlobsLoaded = false;
        continue;
      }
      const found = await expandGlob(pattern, dir);
      if (found.files.length === 0) {
        errors.push(at(f, ["rules", i], found.why));
        allGlobsLoaded = false;
        continue;
      }
      for (const rf of found.files) {
        const key = path.resolve(rf);
        if (seen.has(key)) continue;
        seen.add(key);
        ruleLoads.push(await readRuleFile(rf, opts));
      }
    }
  }
  for (const r of ruleLoads) errors.push(...r.errors);
  const allRules = ruleNames(ruleLoads, errors);
  const rulesKnown = allGlobsLoaded && ruleLoads.every((r) => r.f !== undefined && !r.f.fatal);
  crossCheckConfig(f, allRules, rulesKnown, errors);

  if (errors.length > 0 || !parsed.success) return fail(errors);

  const spec = parsed.data;
  const base = path.dirname(path.resolve(file));
  const rules: RuleSpec[] = [];
  for (const r of ruleLoads) rules.push(...(r.rules ?? []));
  const groups: GroupSpec[] = spec.groups.map((g, i) => ({ ...g, source: sourceOf(f, ["groups", i]) }));
  const collectors = spec.collectors.map((c) =>
    c.type === "os" && c.root !== undefined ? { ...c, root: path.resolve(base, c.root) } : c,
  );
  const config: Config = {
    host: spec.host,
    state_dir: path.resolve(base, spec.state_dir),
    rules,
    ruleFiles: ruleLoads.map((r) => r.file),
    collectors: resolveFileSecrets(collectors, base),
    groups: resolveFileSecrets(groups, base),
    notify: resolveFileSecrets(spec.notify, base),
    sinks: resolveFileSecrets(spec.sinks, base),
    ...(spec.api ? { api: resolveFileSecrets(spec.api, base) } : {}),
    configFile: file,
  };
  const warnings = verifyWarnings(f, config);
  return { ok: true, config, ...(warnings.length ? { warnings } : {}) };
}

/**
 * A group's `verify.within` shorter than a verify rule can recover after a switch: while that rule fires, every
 * switch fails verification. The least a firing rule needs is its `recover_for`, and, for an explicit `recovery`
 * with `min`/`max` over a window (every sample in the window must be good), that window: its duration, or N
 * samples at the interval of the collector its `collector` label names.
 */
function verifyWarnings(f: SourceFile, config: Config): ConfigError[] {
  const out: ConfigError[] = [];
  const rules = new Map(config.rules.map((r) => [r.name, r]));
  const intervals = new Map(
    config.collectors.map((c) => [c.name, "interval" in c ? (c.interval as number | undefined) : undefined]),
  );
  for (const [gi, g] of config.groups.entries()) {
    if (!g.verify) continue;
    for (const name of g.verify.rules) {
      const r = rules.get(name);
      if (!r) continue;
      const interval = r.labels.collector === undefined ? undefined : intervals.get(r.labels.collector);
      const needs: { ms: number; why: string }[] = [];
      const atInterval = (n: number) =>
        interval === undefined
          ? undefined
          : `${formatDuration((n - 1) * interval)} at the ${formatDuration(interval)} interval of collector "${r.labels.collector}"`;
      if (r.recover_for?.kind === "time")
        needs.push({ ms: r.recover_for.ms, why: `its recover_for ${formatSpan(r.recover_for)}` });
      else if (r.recover_for?.kind === "samples" && interval !== undefined) {
        needs.push({
          ms: (r.recover_for.n - 1) * interval,
          why: `its recover_for ${formatSpan(r.recover_for)}, ${atInterval(r.recover_for.n)}`,
        });
      }
      const w = r.recovery?.window;
      if (r.recovery && w && (r.recovery.fn === "min" || r.recovery.fn === "max")) {
        if (w.kind === "time")
          needs.push({
            ms: w.ms,
            why: `its recovery "${r.recovery.text}" needs ${formatSpan(w)} of good samples`,
          });
        else if (interval !== undefined) {
          needs.push({
            ms: (w.n - 1) * interval,
            why: `its recovery "${r.recovery.text}" needs ${w.n} samples, ${atInterval(w.n)}`,
          });
        }
      }
      for (const n of needs) {
        if (g.verify.within >= n.ms) continue;
        out.push({
          ...at(
            f,
            ["groups", gi, "verify", "within"],
            `verify.within ${formatDuration(g.verify.within)} is shorter than rule "${name}" can recover after a switch (${n.why}): a switch would always fail verification while it fires`,
          ),
          context: `group "${g.name}"`,
          severity: "warning",
        });
      }
    }
  }
  return out;
}

/** Group, member, priority and collector names unique; health and verify rules exist. */
function crossCheckConfig(
  f: SourceFile,
  allRules: ReadonlyMap<string, Located>,
  rulesKnown: boolean,
  errors: ConfigError[],
): void {
  const data = f.data;
  const groups = get(data, "groups");
  const groupNames = new Map<string, Located>();
  if (Array.isArray(groups)) {
    for (const [gi, g] of groups.entries()) {
      unique(f, ["groups", gi, "name"], get(g, "name"), groupNames, "group name", errors);
      const members = get(g, "members");
      const memberNames = new Map<string, Located>();
      const priorities = new Map<string, Located>();
      if (Array.isArray(members)) {
        for (const [mi, m] of members.entries()) {
          const mp = ["groups", gi, "members", mi];
          unique(f, [...mp, "name"], get(m, "name"), memberNames, "member name", errors);
          const prio = get(m, "priority");
          if (typeof prio === "number" && Number.isInteger(prio)) {
            const key = String(prio);
            const first = priorities.get(key);
            if (first) {
              errors.push(
                at(
                  f,
                  [...mp, "priority"],
                  `duplicate priority ${prio}; ${first.what} has it too (${where(first, f.file)}); ` +
                    "expected a distinct priority per member (higher is preferred)",
                ),
              );
            } else {
              const mn = get(m, "name");
              priorities.set(key, {
                file: f.file,
                ...posOf(f, [...mp, "priority"]),
                what: typeof mn === "string" ? `member "${mn}"` : `member #${mi + 1}`,
              });
            }
          }
          const health = get(m, "health");
          if (rulesKnown && Array.isArray(health)) {
            for (const [hi, h] of health.entries()) {
              if (typeof h === "string") checkRuleRef(f, [...mp, "health", hi], h, allRules, errors);
              else {
                const r = get(h, "rule");
                if (typeof r === "string")
                  checkRuleRef(f, [...mp, "health", hi, "rule"], r, allRules, errors);
              }
            }
          }
        }
      }
      const verifyRules = get(get(g, "verify"), "rules");
      if (rulesKnown && Array.isArray(verifyRules)) {
        for (const [ri, r] of verifyRules.entries()) {
          if (typeof r === "string")
            checkRuleRef(f, ["groups", gi, "verify", "rules", ri], r, allRules, errors);
        }
      }
    }
  }
  const collectors = get(data, "collectors");
  const collectorNames = new Map<string, Located>();
  if (Array.isArray(collectors)) {
    for (const [ci, c] of collectors.entries()) {
      unique(f, ["collectors", ci, "name"], get(c, "name"), collectorNames, "collector name", errors);
    }
  }
}

function checkRuleRef(
  f: SourceFile,
  p: Path,
  name: string,
  allRules: ReadonlyMap<string, Located>,
  errors: ConfigError[],
): void {
  if (allRules.has(name)) return;
  if (allRules.size === 0) {
    errors.push(
      at(f, p, `no rule named "${name}": no rules are loaded; expected the rule files in \`rules:\``),
    );
    return;
  }
  const near = closest(name, [...allRules.keys()]);
  errors.push(
    at(
      f,
      p,
      `no rule named "${name}"${near ? `; did you mean "${near}"?` : "; expected a rule from the rule files"}`,
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Rule files

interface RuleFileLoad {
  readonly file: string;
  readonly f?: SourceFile;
  readonly rules?: RuleSpec[];
  readonly errors: ConfigError[];
}

async function readRuleFile(file: string, opts: LoadOptions): Promise<RuleFileLoad> {
  const src = await readSource(file, opts);
  if (!src.ok) return { file, errors: src.errors };
  return parseRuleFile(src.text, file);
}

function parseRuleFile(text: string, file: string): RuleFileLoad {
  const f = parseYaml(text, file, "rules");
  const errors = [...f.errors];
  if (f.fatal) return { file, f, errors };
  const parsed = ruleFileSchema.safeParse(f.data, { error: errorMap });
  if (!parsed.success) {
    mapIssues(parsed.error.issues, [], f, errors);
    return { file, f, errors };
  }
  const rules = parsed.data.rules.map((r, i): RuleSpec => ({ ...r, source: sourceOf(f, ["rules", i]) }));
  return { file, f, rules, errors };
}

function finishRules(loads: readonly RuleFileLoad[]): RulesResult {
  const errors: ConfigError[] = [];
  for (const l of loads) errors.push(...l.errors);
  ruleNames(loads, errors);
  if (errors.length > 0) return fail(errors);
  return { ok: true, rules: loads.flatMap((l) => l.rules ?? []), files: loads.map((l) => l.file) };
}

/** Every rule name across the files, where it is first defined; duplicates are errors. */
function ruleNames(loads: readonly RuleFileLoad[], errors: ConfigError[]): Map<string, Located> {
  const names = new Map<string, Located>();
  for (const l of loads) {
    if (!l.f || l.f.fatal) continue;
    const rules = get(l.f.data, "rules");
    if (!Array.isArray(rules)) continue;
    for (const [i, r] of rules.entries())
      unique(l.f, ["rules", i, "name"], get(r, "name"), names, "rule name", errors);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------------------
// Reading files

type SourceResult = { ok: true; text: string } | { ok: false; errors: ConfigError[] };

async function readSource(file: string, opts: LoadOptions): Promise<SourceResult> {
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

function fsReason(e: unknown): string {
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

function fileError(file: string, message: string): SourceResult {
  return { ok: false, errors: [{ file, message }] };
}

/** UTF-8 text, or an error at the first byte that is not (binary garbage is an error, never a crash). */
function decode(buf: Buffer, file: string): SourceResult {
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

function textPos(before: string): { line: number; col: number } {
  const lines = before.split("\n");
  return { line: lines.length, col: (lines[lines.length - 1] ?? "").length + 1 };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence; -1 when all are valid. */
function firstInvalidUtf8(b: Uint8Array): number {
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

// ---------------------------------------------------------------------------------------------------------
// YAML with positions

type Kind = "config" | "rules";

interface SourceFile {
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

function parseYaml(text: string, file: string, kind: Kind): SourceFile {
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

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/** Duplicate keys in any map, each reported at the later key with where the first one is. */
function duplicateKeys(f: SourceFile, node: unknown, p: Path, depth: number): void {
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

function keyString(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

type Path = readonly (string | number)[];

function deref(f: SourceFile, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 10 && isAlias(n); i++) n = f.doc ? n.resolve(f.doc) : undefined;
  return n;
}

/** The node at `p`, or the deepest one that exists on the way; `exact` tells which. */
function nodeAt(f: SourceFile, p: Path): { node: Node | undefined; exact: boolean } {
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

function offsetOf(node: Node | undefined): number {
  return node?.range?.[0] ?? 0;
}

function posOf(f: SourceFile, p: Path): { line: number; col: number } {
  return f.lc.linePos(offsetOf(nodeAt(f, p).node));
}

function sourceOf(f: SourceFile, p: Path): SourcePos {
  return { file: f.file, ...posOf(f, p) };
}

/** An error at the node at `p`, with the context of `p`. */
function at(f: SourceFile, p: Path, message: string, offset?: number): ConfigError {
  const off = offset ?? offsetOf(nodeAt(f, p).node);
  return { file: f.file, ...f.lc.linePos(off), ...ctx(f, p), message };
}

// ---------------------------------------------------------------------------------------------------------
// Context: `rule "gw-a-down": problem`, `group "uplink": member "isp-b": activate[0].route`

function ctx(f: SourceFile, p: Path): { context?: string } {
  const c = contextOf(f, p);
  return c ? { context: c } : {};
}

function contextOf(f: SourceFile, p: Path): string {
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

function entityOf(kind: Kind, seg: string, depth: number, prev: string): string | undefined {
  if (depth === 0 && kind === "rules" && seg === "rules") return "rule";
  if (depth === 0 && kind === "config" && seg === "groups") return "group";
  if (depth === 0 && kind === "config" && seg === "collectors") return "collector";
  if (depth === 2 && prev === "group" && seg === "members") return "member";
  return undefined;
}

/** A property of plain data, or undefined. */
function get(v: unknown, k: string | number): unknown {
  if (v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) return typeof k === "number" ? v[k] : undefined;
  return Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
}

function has(v: unknown, p: Path): boolean {
  let cur = v;
  for (const seg of p) {
    if (cur === null || typeof cur !== "object") return false;
    if (Array.isArray(cur) ? typeof seg !== "number" || seg >= cur.length : !Object.hasOwn(cur, seg))
      return false;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// zod issues → errors

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a map (key: value)",
  record: "a map (key: value)",
  null: "nothing",
};

const NO_FORM = "matches none of the allowed forms";

/** Human messages for zod's issues; schema-level messages (schema.ts) take precedence over these. */
const errorMap: z.core.$ZodErrorMap = (iss) => {
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

function mapIssues(issues: readonly z.core.$ZodIssue[], base: Path, f: SourceFile, out: ConfigError[]): void {
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

function expectedRoot(kind: Kind): string {
  return kind === "rules"
    ? "expected a map with a list of rules: `rules: [{name: ..., metric: ..., problem: ...}]`"
    : "expected a map with keys such as rules, collectors, groups";
}

function emptyMessage(kind: Kind): string {
  return `the file is empty; ${expectedRoot(kind)}`;
}

/**
 * A union none of whose forms fits. A discriminated union says which discriminator values exist. Otherwise,
 * when the value has the shape of one form (its issues are all inside the value, none about the value
 * itself), that form's issues are reported; if none has, the union's own message is.
 */
function mapUnion(issue: z.core.$ZodIssueInvalidUnion, p: Path, f: SourceFile, out: ConfigError[]): void {
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

function nodeValue(f: SourceFile, p: Path): unknown {
  let cur = f.data;
  for (const seg of p) cur = get(cur, seg);
  return cur;
}

/** The source offset of character `offset` of the string value at `p` (quotes, escapes, folding counted). */
function conditionOffset(f: SourceFile, p: Path, offset: number): number | undefined {
  const { node, exact } = nodeAt(f, p);
  if (!exact || !isScalar(node) || typeof node.value !== "string" || !node.range) return undefined;
  return scalarOffset(f.text, node, offset);
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
function flowOffset(raw: string, i: number, target: number, style: "plain" | "single" | "double"): number {
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
function blockOffset(raw: string, target: number): number {
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

// ---------------------------------------------------------------------------------------------------------
// Helpers

interface Located {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly what: string;
}

function where(l: Located, file: string): string {
  return l.file === file ? `line ${l.line}` : `${l.file}:${l.line}:${l.col}`;
}

/** Records `value` (a name) at `p`; a second occurrence is an error that says where the first one is. */
function unique(
  f: SourceFile,
  p: Path,
  value: unknown,
  seen: Map<string, Located>,
  what: string,
  errors: ConfigError[],
): void {
  if (typeof value !== "string" || value === "") return;
  const first = seen.get(value);
  if (first) {
    errors.push(at(f, p, `duplicate ${what} "${value}"; the first one is at ${where(first, f.file)}`));
  } else seen.set(value, { file: f.file, ...posOf(f, p), what });
}

/** The closest name, when it is close enough to be a likely typo. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Expands a `rules:` glob relative to the config file's directory; sorted, files only. */
async function expandGlob(pattern: string, dir: string): Promise<{ files: string[]; why: string }> {
  const full = path.isAbsolute(pattern) ? path.normalize(pattern) : path.join(dir, pattern);
  const looked = full === pattern ? "" : ` (looked for ${full})`;
  const segs = full.split("/");
  const k = segs.findIndex((s) => isDynamicPattern(s));
  if (k < 0) {
    try {
      const st = await stat(full);
      if (st.isFile()) return { files: [full], why: "" };
      if (st.isDirectory()) {
        return {
          files: [],
          why: `"${pattern}" is a directory; expected a file or a glob like ${pattern}/*.yaml`,
        };
      }
    } catch {
      // Not there: said below.
    }
    return {
      files: [],
      why: `no file matches "${pattern}"${looked}; expected the path or glob of rule files`,
    };
  }
  const base = segs.slice(0, k).join("/") || (full.startsWith("/") ? "/" : ".");
  const rest = segs.slice(k).join("/");
  const found = await glob(rest, { cwd: base, onlyFiles: true, expandDirectories: false });
  const files = found.map((m) => path.join(base, m)).sort();
  return { files, why: `no file matches "${pattern}"${looked}; expected at least one rule file` };
}

/** Resolves relative `{kind: "file", path}` secrets against the config file's directory. */
function resolveFileSecrets<T>(v: T, base: string): T {
  const walk = (x: unknown, depth: number): unknown => {
    if (depth > 50 || x === null || typeof x !== "object") return x;
    if (Array.isArray(x)) return x.map((e) => walk(e, depth + 1));
    const o = x as Record<string, unknown>;
    if (o.kind === "file" && typeof o.path === "string" && Object.keys(o).length === 2) {
      return { kind: "file", path: path.resolve(base, o.path) };
    }
    return Object.fromEntries(Object.entries(o).map(([k, e]) => [k, walk(e, depth + 1)]));
  };
  return walk(v, 0) as T;
}

function fail(errors: ConfigError[]): { ok: false; errors: ConfigError[] } {
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

function internalError(file: string, e: unknown): ConfigError {
  const message = e instanceof Error ? e.message : String(e);
  return { file, message: `internal error while loading (please report it): ${message}` };
}

/** Whatever happens inside, an error list comes out, never an exception. */
async function guard<T>(file: string, f: () => Promise<T | { ok: false; errors: ConfigError[] }>) {
  try {
    return await f();
  } catch (e) {
    return { ok: false as const, errors: [internalError(file, e)] };
  }
}

/** Rule files: reading, parsing and validating each, and the `rules:` globs that name them. */
import { stat } from "node:fs/promises";
import path from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
import type { RuleSpec } from "../engine/types.js";

import { type Located, unique } from "./crosscheck.js";
import { type ConfigError, fail } from "./errors.js";
import { errorMap, mapIssues } from "./issues.js";
import { ruleFileSchema } from "./schema.js";
import { type LoadOptions, readSource } from "./source.js";
import { get, parseYaml, type SourceFile, sourceOf } from "./yaml.js";

export type RulesResult =
  | { ok: true; rules: RuleSpec[]; files: string[] }
  | { ok: false; errors: ConfigError[] };

// Rule files

export interface RuleFileLoad {
  readonly file: string;
  readonly f?: SourceFile;
  readonly rules?: RuleSpec[];
  readonly errors: ConfigError[];
}

export async function readRuleFile(file: string, opts: LoadOptions): Promise<RuleFileLoad> {
  const src = await readSource(file, opts);
  if (!src.ok) return { file, errors: src.errors };
  return parseRuleFile(src.text, file);
}

export function parseRuleFile(text: string, file: string): RuleFileLoad {
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

export function finishRules(loads: readonly RuleFileLoad[]): RulesResult {
  const errors: ConfigError[] = [];
  for (const l of loads) errors.push(...l.errors);
  ruleNames(loads, errors);
  if (errors.length > 0) return fail(errors);
  return { ok: true, rules: loads.flatMap((l) => l.rules ?? []), files: loads.map((l) => l.file) };
}

/** Every rule name across the files, where it is first defined; duplicates are errors. */
export function ruleNames(loads: readonly RuleFileLoad[], errors: ConfigError[]): Map<string, Located> {
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

/** Expands a `rules:` glob relative to the config file's directory; sorted, files only. */
export async function expandGlob(pattern: string, dir: string): Promise<{ files: string[]; why: string }> {
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

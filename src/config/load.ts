/**
 * Loads and validates `standby.yaml` and rule files — the entry points. Never throws for bad input: every problem
 * becomes a ConfigError with the file, line and column of the YAML node it concerns, and all of them are returned
 * (not only the first), sorted by file, line and column. The steps live beside it: source.ts (reading and
 * permissions), yaml.ts (positions), issues.ts (schema issues → messages), crosscheck.ts, rulefiles.ts.
 */
import path from "node:path";
import { collectorDefinition } from "../../collectors/index.js";
import { crossCheckCluster, resolveClusterPaths } from "../cluster/config.js";
import type { RuleSpec } from "../engine/types.js";
import type { GroupSpec } from "../groups/types.js";
import { catalogueWarnings } from "./catalogue.js";
import {
  crossCheckConfig,
  gatewayProbeWarnings,
  sharedQuorumWarnings,
  verifyWarnings,
} from "./crosscheck.js";
import { type ConfigError, fail, guard, internalError } from "./errors.js";
import { errorMap, mapIssues } from "./issues.js";
import {
  expandGlob,
  finishRules,
  parseRuleFile,
  type RuleFileLoad,
  type RulesResult,
  readRuleFile,
  ruleNames,
} from "./rulefiles.js";
import { type Config, configSchema } from "./schema.js";
import { type LoadOptions, readSource } from "./source.js";
import { at, get, parseYaml, sourceOf } from "./yaml.js";

export { closest } from "./crosscheck.js";
export type { ConfigError } from "./errors.js";
export { formatError } from "./errors.js";
export type { RulesResult } from "./rulefiles.js";
export type { LoadOptions } from "./source.js";
export { scalarOffset } from "./yaml.js";

export type ConfigResult =
  | { ok: true; config: Config; warnings?: ConfigError[] }
  | { ok: false; errors: ConfigError[] };

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
  crossCheckCluster(f, errors);

  if (errors.length > 0 || !parsed.success) return fail(errors);

  const spec = parsed.data;
  const base = path.dirname(path.resolve(file));
  const rules: RuleSpec[] = [];
  for (const r of ruleLoads) rules.push(...(r.rules ?? []));
  const groups: GroupSpec[] = spec.groups.map((g, i) => ({ ...g, source: sourceOf(f, ["groups", i]) }));
  const collectors = spec.collectors.map((c) => {
    const def = collectorDefinition(c.type);
    return def?.resolvePaths ? (def.resolvePaths(c, base) as typeof c) : c;
  });
  const config: Config = {
    host: spec.host,
    state_dir: path.resolve(base, spec.state_dir),
    rules,
    ruleFiles: ruleLoads.map((r) => r.file),
    collectors: resolveFileSecrets(collectors, base),
    groups: resolveFileSecrets(groups, base),
    notify: resolveFileSecrets(spec.notify, base),
    sinks: resolveFileSecrets(spec.sinks, base),
    api: {
      ...resolveFileSecrets(spec.api, base),
      // "" turns the socket off; a relative path is relative to this file, as every path here.
      socket: spec.api.socket === "" ? "" : path.resolve(base, spec.api.socket),
    },
    ...(spec.cluster ? { cluster: resolveFileSecrets(resolveClusterPaths(spec.cluster, base), base) } : {}),
    configFile: file,
  };
  const warnings = [
    ...verifyWarnings(f, config),
    ...sharedQuorumWarnings(f, config),
    ...gatewayProbeWarnings(f, config),
    ...catalogueWarnings(ruleLoads, config.collectors),
  ];
  return { ok: true, config, ...(warnings.length ? { warnings } : {}) };
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

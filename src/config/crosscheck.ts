/**
 * Checks across the whole config that the schema cannot make: unique names, health and verify rules that exist
 * (with "did you mean"), and warnings for what will not work as meant (a `verify.within` shorter than a verify rule
 * can recover).
 */

import { normalizeDst, normalizeTable, routeFamily } from "../actions/routes.js";
import type { ActionSpec } from "../actions/types.js";
import { formatDuration, formatSpan } from "../util/duration.js";
import type { ConfigError } from "./errors.js";
import type { Config } from "./schema.js";
import { at, get, type Path, posOf, type SourceFile } from "./yaml.js";

/**
 * A group's `verify.within` shorter than a verify rule can recover after a switch: while that rule fires, every
 * switch fails verification. The least a firing rule needs is its `recover_for`, and, for an explicit `recovery`
 * with `min`/`max` over a window (every sample in the window must be good), that window: its duration, or N
 * samples at the interval of the collector its `collector` label names.
 */
export function verifyWarnings(f: SourceFile, config: Config): ConfigError[] {
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

/**
 * A shared group (fleet mode) whose health rule reads a `shared: true` collector: one instance polls that target,
 * so only one observer has a view of it, and a quorum other than `any` can never be reached on its evidence (the
 * other observers count as unknown): the member would never be failed over for it.
 */
export function sharedQuorumWarnings(f: SourceFile, config: Config): ConfigError[] {
  const out: ConfigError[] = [];
  const rules = new Map(config.rules.map((r) => [r.name, r]));
  const shared = new Set(
    config.collectors.filter((c) => (c as { shared?: boolean }).shared === true).map((c) => c.name),
  );
  if (shared.size === 0) return out;
  for (const [gi, g] of config.groups.entries()) {
    if (g.scope !== "shared" || g.quorum === "any" || g.quorum === 1) continue;
    const seen = new Set<string>();
    for (const m of g.members)
      for (const h of m.health) {
        const collector = rules.get(h.rule)?.labels.collector;
        if (collector === undefined || !shared.has(collector) || seen.has(h.rule)) continue;
        seen.add(h.rule);
        const key = get(get(get(f.data, "groups"), gi), "quorum") !== undefined ? "quorum" : "scope";
        out.push({
          ...at(
            f,
            ["groups", gi, key],
            `rule "${h.rule}" (member ${m.name}) reads collector "${collector}", which is shared: one instance of the fleet polls it, so one observer has a view of it and quorum ${String(g.quorum ?? "majority")} is never reached on it (the member is never failed over for it); use quorum: any, or a collector every instance runs itself`,
          ),
          context: `group "${g.name}"`,
          severity: "warning",
        });
      }
  }
  return out;
}

/**
 * A group whose actions move the default route (`route: {to: default}` in the main table) with a member judged on a
 * probe of `target: gateway`: that probe follows the default route, so after a switch it measures the uplink just
 * switched to, and the member that failed looks healthy again. Each gateway should be named by its address.
 */
export function gatewayProbeWarnings(f: SourceFile, config: Config): ConfigError[] {
  const out: ConfigError[] = [];
  const rules = new Map(config.rules.map((r) => [r.name, r]));
  const following = new Set(
    config.collectors
      .filter((c) => c.type === "probe" && (c as { probe?: { target?: string } }).probe?.target === "gateway")
      .map((c) => c.name),
  );
  if (following.size === 0) return out;
  // The IPv4 default route of the main table: the one the probe reads (`ip route show`).
  const movesDefault = (a: ActionSpec) =>
    "route" in a &&
    normalizeDst(a.route.to) === "default" &&
    normalizeTable(a.route.table) === "main" &&
    routeFamily(a.route) === "inet";
  for (const [gi, g] of config.groups.entries()) {
    if (!g.members.some((m) => [...m.activate, ...m.deactivate].some(movesDefault))) continue;
    for (const [mi, m] of g.members.entries())
      for (const [hi, h] of m.health.entries()) {
        const collector = rules.get(h.rule)?.labels.collector;
        if (collector === undefined || !following.has(collector)) continue;
        out.push({
          ...at(
            f,
            ["groups", gi, "members", mi, "health", hi],
            `rule "${h.rule}" (member ${m.name}) reads collector "${collector}", whose probe has target: gateway and follows the default route — the route this group's actions move: after a switch it would measure the uplink switched to; name this member's gateway by its address`,
          ),
          context: `group "${g.name}"`,
          severity: "warning",
        });
      }
  }
  return out;
}

/** Group, member, priority and collector names unique; health and verify rules exist. */
export function crossCheckConfig(
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

export function checkRuleRef(
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

export interface Located {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly what: string;
}

export function where(l: Located, file: string): string {
  return l.file === file ? `line ${l.line}` : `${l.file}:${l.line}:${l.col}`;
}

/** Records `value` (a name) at `p`; a second occurrence is an error that says where the first one is. */
export function unique(
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

export function levenshtein(a: string, b: string): number {
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

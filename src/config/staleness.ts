import type { RuleSpec } from "../engine/types.js";
import type { CollectorSpec } from "./schema.js";

/** The shortest default `stale_after`: a restart of a probe program must not flip rules to unknown. */
export const MIN_DEFAULT_STALE_MS = 2000;

function intervalOf(c: CollectorSpec): number | undefined {
  return "interval" in c && typeof c.interval === "number" ? c.interval : undefined;
}

/**
 * Rules without `stale_after` get one, so that missing data always ends as unknown, never as healthy
 * (DESIGN.md "Missing data"): three intervals of the collector the rule's `collector` label names (at least
 * 2 s), or, when the rule names none, three times the longest interval among the configured collectors.
 * Rules with their own `stale_after` are left alone; with no polling collector configured nothing changes.
 */
export function withDefaultStaleness(
  rules: readonly RuleSpec[],
  collectors: readonly CollectorSpec[],
): RuleSpec[] {
  const byName = new Map(collectors.map((c) => [c.name, intervalOf(c)]));
  const intervals = collectors.map(intervalOf).filter((i): i is number => i !== undefined);
  const longest = intervals.length ? Math.max(...intervals) : undefined;
  return rules.map((r) => {
    if (r.stale_after !== undefined) return r;
    const named =
      r.labels.collector !== undefined && !r.labels.collector.includes("*")
        ? byName.get(r.labels.collector)
        : undefined;
    const base = named ?? longest;
    return base === undefined ? r : { ...r, stale_after: Math.max(3 * base, MIN_DEFAULT_STALE_MS) };
  });
}

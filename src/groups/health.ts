import type { InstanceView, RuleEngine } from "../engine/engine.js";
import { compileMatchers, labelsMatch } from "../engine/labels.js";
import type { HealthSnapshot, MemberStatus } from "./controller.js";
import type { Culprit } from "./events.js";
import type { GroupSpec, Health, HealthRef, MemberSpec } from "./types.js";

/** Worst first: a failed rule outweighs missing data, which outweighs a warning. */
const RANK: Readonly<Record<Health, number>> = { unhealthy: 3, unknown: 2, degraded: 1, healthy: 0 };

function culprit(i: InstanceView): Culprit {
  return {
    rule: i.rule.name,
    labels: i.labels,
    state: i.state,
    ...(i.value !== undefined ? { value: i.value } : {}),
    reason: i.reason,
  };
}

function instancesFor(engine: RuleEngine, ref: HealthRef): InstanceView[] {
  const all = [...engine.instancesOf(ref.rule)];
  if (!ref.labels) return all;
  const matchers = compileMatchers(ref.labels);
  return all.filter((i) => labelsMatch(matchers, i.labels));
}

/**
 * A member's health from its rules: unhealthy if a critical rule fires (or flaps), else unknown if any rule
 * has no fresh data (or has never matched a sample), else degraded if a warning rule fires, else healthy.
 */
export function memberStatus(member: MemberSpec, engine: RuleEngine): MemberStatus {
  let worst: Health = "healthy";
  const found: { culprit: Culprit; health: Health }[] = [];
  for (const ref of member.health) {
    const insts = instancesFor(engine, ref);
    if (insts.length === 0) {
      const reason = `${ref.rule}: no data yet`;
      found.push({
        culprit: { rule: ref.rule, labels: ref.labels ?? {}, state: "unknown", reason },
        health: "unknown",
      });
      if (RANK.unknown > RANK[worst]) worst = "unknown";
      continue;
    }
    for (const i of insts) {
      const h = i.health;
      if (h === "healthy") continue;
      found.push({ culprit: culprit(i), health: h });
      if (RANK[h] > RANK[worst]) worst = h;
    }
  }
  if (worst === "healthy") return { health: "healthy", culprits: [], reason: "all health rules ok" };
  // Most severe first, so culprits[0] explains the verdict.
  found.sort((a, b) => RANK[b.health] - RANK[a.health]);
  return {
    health: worst,
    culprits: found.map((f) => f.culprit),
    reason: found.map((f) => f.culprit.reason).join("; "),
  };
}

export function snapshot(group: GroupSpec, engine: RuleEngine): HealthSnapshot {
  const members: Record<string, MemberStatus> = {};
  for (const m of group.members) members[m.name] = memberStatus(m, engine);
  const verifyFiring: string[] = [];
  for (const rule of group.verify?.rules ?? []) {
    for (const i of engine.instancesOf(rule)) {
      if (i.state === "firing" || i.state === "recovering" || i.state === "flapping")
        verifyFiring.push(i.reason);
    }
  }
  return { members, verifyFiring };
}

/**
 * A redundancy group's controller: pure, time is a parameter (`step(spec, state, now, input)`). The state and
 * inputs are in state.ts, a step's working copy and its moves in step.ts, operator commands in commands.ts.
 * See DESIGN.md "Semantics we promise".
 */
import { formatDuration, formatElapsed } from "../util/duration.js";
import { command } from "./commands.js";
import {
  type GroupState,
  type HealthSnapshot,
  type Input,
  REDUNDANCY_GRACE_MS,
  type StepResult,
  UNKNOWN_STATUS,
} from "./state.js";
import { failbackCandidate, healthText, Step } from "./step.js";
import type { GroupSpec } from "./types.js";

export {
  type Command,
  type GroupState,
  type HealthSnapshot,
  type Input,
  initialState,
  type MemberStatus,
  REDUNDANCY_GRACE_MS,
  type StepResult,
  type SwitchKind,
} from "./state.js";

export function step(
  spec: GroupSpec,
  state: GroupState,
  now: number,
  input: Input = { type: "tick" },
): StepResult {
  const st = new Step(spec, state, now);
  const retry = expireTimers(st);
  let error: string | undefined;
  switch (input.type) {
    case "health":
      applyHealth(st, input.snapshot);
      break;
    case "tick":
      break;
    case "command":
      error = command(st, input);
      break;
    case "switch_result":
      if (!input.ok && st.s.active === input.to)
        switchFailed(st, input.to, `activation failed: ${input.detail}`);
      break;
  }
  checkVerify(st);
  // One switch per step: an operator's switch is not followed by an automatic one in the same step.
  if (!st.switched) decide(st);
  if (retry && !st.switched && !(st.s.active in st.s.excluded)) {
    st.switched = { from: st.s.active, to: st.s.active, kind: "switch_retry" };
    st.emit({
      kind: "switch_retry",
      member: st.s.active,
      to: st.s.active,
      reason: `retrying the activation of ${st.s.active}: it failed earlier, no other member took over, and its exclusion of ${formatDuration(st.s.hold)} ended`,
    });
  }
  judgeRedundancy(st);
  return {
    state: st.s,
    events: st.events,
    ...(st.switched ? { switch: st.switched } : {}),
    ...(error ? { error } : {}),
  };
}

/** Expires pins, freezes, exclusions and probation; true when the active member's exclusion ended. */
function expireTimers(st: Step): boolean {
  const { s, now } = st;
  let retry = false;
  if (s.pin?.until !== undefined && now >= s.pin.until) {
    st.emit({ kind: "unpinned", member: s.pin.member, reason: `pin to ${s.pin.member} expired` });
    delete s.pin;
  }
  if (s.frozen?.until !== undefined && now >= s.frozen.until) {
    st.emit({
      kind: "unfrozen",
      member: s.active,
      reason: `damping window of ${formatDuration(st.spec.damping.within)} passed; automatic switching resumes`,
    });
    delete s.frozen;
    // Not reset: the failovers made while frozen still count in the sliding window.
    s.switches = s.switches.filter((t) => t > now - st.spec.damping.within);
  }
  for (const [m, until] of Object.entries(s.excluded)) {
    if (now < until) continue;
    delete s.excluded[m];
    if (m === s.active) retry = true;
  }
  if (s.probation && now >= s.probation.until) {
    // The failback held: the hold returns to its configured length.
    s.hold = st.spec.failback.hold;
    delete s.probation;
  }
  return retry;
}

function applyHealth(st: Step, snap: HealthSnapshot): void {
  const { s, now } = st;
  s.verifyFiring = [...snap.verifyFiring];
  for (const m of st.spec.members) {
    const next = snap.members[m.name] ?? UNKNOWN_STATUS;
    const prev = st.status(m.name);
    s.health[m.name] = next;
    if (next.health !== "unknown" && !s.seen.includes(m.name)) s.seen.push(m.name);
    if (next.health === prev.health) continue;
    if (s.forced === m.name) delete s.forced;
    if (next.health === "healthy") s.healthySince[m.name] = now;
    else delete s.healthySince[m.name];
    const relapse =
      s.probation?.to === m.name &&
      (next.health === "unhealthy" || next.health === "degraded") &&
      now < s.probation.until;
    let extra = "";
    if (relapse) {
      const old = s.hold;
      s.hold = Math.min(old * 2, st.spec.failback.max_hold);
      delete s.probation;
      extra = `; relapse within ${formatDuration(old)} of failback: next hold ${formatDuration(s.hold)}`;
    }
    const culprit = next.culprits[0];
    st.emit({
      kind: "health",
      member: m.name,
      state: next.health,
      ...(culprit ? { rule: culprit.rule, labels: culprit.labels } : {}),
      reason: `${m.name} ${prev.health} → ${next.health}: ${next.reason}${
        m.name === s.active && next.health === "unknown"
          ? "; kept active (missing data is not evidence of failure)"
          : ""
      }${extra}`,
    });
  }
}

function switchFailed(st: Step, to: string, why: string): void {
  const { s, now } = st;
  s.excluded[to] = now + s.hold;
  delete s.verify;
  st.emit({
    kind: "switch_failed",
    member: to,
    to,
    reason: `switch to ${to} failed: ${why}; ${to} excluded as a target for ${formatDuration(s.hold)}`,
  });
}

function checkVerify(st: Step): void {
  const { s, now } = st;
  if (!s.verify || now < s.verify.deadline) return;
  const { to } = s.verify;
  delete s.verify;
  if (s.active === to && s.verifyFiring.length > 0) {
    switchFailed(
      st,
      to,
      `verify rules still firing ${formatDuration(st.spec.verify!.within)} after the switch: ${s.verifyFiring.join("; ")}`,
    );
  }
}

function decide(st: Step): void {
  const { s, spec, now } = st;
  const active = st.status(s.active);
  const activeFailed = s.active in s.excluded;
  if (s.forced === s.active && !activeFailed) return; // the operator's forced choice stands until its health changes
  if (active.health === "unhealthy" || activeFailed) {
    const t = st.bestTarget(s.active);
    const why = activeFailed ? `${s.active} failed to activate` : `${s.active} ${healthText(active)}`;
    if (!t) {
      if (!s.noHealthy) {
        s.noHealthy = true;
        const others = spec.members
          .filter((m) => m.name !== s.active)
          .map(
            (m) =>
              `${m.name} ${st.status(m.name).health}${m.name in s.excluded ? " (excluded after a failed switch)" : ""}`,
          );
        st.emit({
          kind: "no_healthy_member",
          member: s.active,
          reason: `${why}; no member to fail over to (${others.join(", ") || "no other member"}); staying on ${s.active}`,
        });
      }
      return;
    }
    const returning =
      st.preference().findIndex((m) => m.name === t.member.name) <
      st.preference().findIndex((m) => m.name === s.active);
    st.autoSwitch(
      t.member.name,
      "failover",
      `${why}; ${t.member.name} is the ${t.health} member of highest ${s.pin?.member === t.member.name ? "preference (pinned)" : `priority (${t.member.priority})`}${
        t.health === "degraded" ? ", no healthy member left" : ""
      }${returning ? "; hold does not apply when the active member is unhealthy" : ""}`,
    );
    return;
  }
  s.noHealthy = false;
  if (active.health === "unknown") return;
  // Failback: a more preferred member, healthy for the hold.
  if (spec.failback.mode !== "auto" || s.frozen) return;
  const cand = failbackCandidate(st);
  if (!cand) return;
  const since = s.healthySince[cand.name]!;
  if (now - since < s.hold) return;
  st.autoSwitch(
    cand.name,
    "failback",
    `${cand.name} healthy for ${formatElapsed(now - since)} (hold ${formatDuration(s.hold)}${
      s.hold !== spec.failback.hold ? `, doubled after a failed failback` : ""
    }, failback auto); ${s.pin?.member === cand.name ? "pinned member" : `priority ${cand.priority} > ${st.member(s.active)?.priority}`}`,
  );
}

function judgeRedundancy(st: Step): void {
  const { s, spec, now } = st;
  if (spec.min_healthy === undefined) return;
  if (s.seen.length < spec.members.length && now < s.startedAt + REDUNDANCY_GRACE_MS) return;
  const healthy = spec.members.filter((m) => st.status(m.name).health === "healthy");
  const lost = healthy.length < spec.min_healthy;
  const detail = `${healthy.length} of ${spec.members.length} members healthy (min_healthy ${spec.min_healthy})`;
  if (lost && s.redundancy !== "lost") {
    const bad = spec.members
      .filter((m) => st.status(m.name).health !== "healthy")
      .map((m) => `${m.name} ${healthText(st.status(m.name))}`);
    st.emit({ kind: "redundancy_lost", reason: `${detail}: ${bad.join("; ")}` });
  } else if (!lost && s.redundancy === "lost") {
    st.emit({ kind: "redundancy_restored", reason: detail });
  }
  s.redundancy = lost ? "lost" : "ok";
}

export function nextDeadline(spec: GroupSpec, state: GroupState): number | undefined {
  const times: number[] = [];
  if (state.pin?.until !== undefined) times.push(state.pin.until);
  if (state.frozen?.until !== undefined) times.push(state.frozen.until);
  if (state.verify) times.push(state.verify.deadline);
  if (state.probation) times.push(state.probation.until);
  times.push(...Object.values(state.excluded));
  if (spec.min_healthy !== undefined && state.redundancy === undefined)
    times.push(state.startedAt + REDUNDANCY_GRACE_MS);
  if (spec.failback.mode === "auto" && !state.frozen) {
    const probe = new Step(spec, state, 0);
    const active = probe.status(state.active).health;
    if (active === "healthy" || active === "degraded") {
      const cand = failbackCandidate(probe);
      if (cand) times.push(state.healthySince[cand.name]! + state.hold);
    }
  }
  return times.length ? Math.min(...times) : undefined;
}

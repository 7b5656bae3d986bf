/** The reasons a rule instance gives, in words: what held, with which value, for how long. */
import { formatElapsed, formatSpan } from "../util/duration.js";
import type { Instance, Transition } from "./instance.js";
import type { RuleState } from "./types.js";

export function fmtValue(v: number | undefined): string {
  if (v === undefined) return "no value";
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

export function describe(inst: Instance, now: number, prev: RuleState): string {
  const spec = inst.compiled.spec;
  const name = spec.name;
  const v = fmtValue(inst.value);
  switch (inst.phase) {
    case "unknown":
      return `${name} unknown: not enough data`;
    case "pending":
      return `${name} pending: ${spec.problem.text} (value ${v}), firing after ${formatSpan(spec.for!)}`;
    case "firing":
      if (prev === "recovering") return `${name} firing again: recovery no longer holds (value ${v})`;
      return spec.for
        ? `${name} firing: ${spec.problem.text} (value ${v}) for ${spec.for.kind === "samples" ? formatSpan(spec.for) : formatElapsed(now - inst.streakAt)}`
        : `${name} firing: ${spec.problem.text} (value ${v})`;
    case "recovering":
      return `${name} recovering: ${spec.recovery?.text ?? `not (${spec.problem.text})`} (value ${v}), ok after ${formatSpan(spec.recover_for!)}`;
    case "ok":
      return spec.recovery && (prev === "firing" || prev === "recovering")
        ? `${name} ok: ${spec.recovery.text} (value ${v})`
        : `${name} ok: ${spec.problem.text} is false (value ${v})`;
  }
}

/** Emits a transition if the reported state changed. */
export function report(inst: Instance, now: number, reason?: string): Transition | undefined {
  const state: RuleState = inst.stale ? "unknown" : inst.flapping ? "flapping" : inst.phase;
  if (state === inst.state) return undefined;
  const prev = inst.state;
  inst.state = state;
  inst.since = now;
  inst.reason =
    reason ?? (state === "flapping" || prev === "flapping" ? inst.reason : describe(inst, now, prev));
  if (prev === "flapping" && state !== "flapping") inst.reason += `; now ${describe(inst, now, prev)}`;
  return {
    ts: now,
    rule: inst.compiled.spec.name,
    labels: inst.series.labels,
    state,
    prev,
    ...(inst.value !== undefined ? { value: inst.value } : {}),
    reason: inst.reason,
  };
}

import type { Labels } from "../engine/types.js";
import type { StandbyEvent } from "../groups/events.js";

export function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Seconds relative to the start, as `+12.300s`. */
export function formatOffset(ts: number, t0: number): string {
  const d = (ts - t0) / 1000;
  return `${d >= 0 ? "+" : "-"}${Math.abs(d).toFixed(3)}s`;
}

function subject(e: StandbyEvent): string {
  switch (e.kind) {
    case "rule":
      return `${e.rule}${formatLabels(e.labels)} ${typeof e.prev === "string" ? `${e.prev} → ` : ""}${e.state}`;
    case "health":
      return `${e.group}/${e.member} ${e.state}`;
    case "failover":
    case "failback":
    case "manual_switch":
      return `${e.group}: ${e.from} → ${e.to}`;
    default:
      return `${e.group ?? ""}${e.member ? `/${e.member}` : ""}`;
  }
}

/** One event as a human reads it: time, kind, what it is about, why. */
export function formatEvent(e: StandbyEvent, t0: number): string {
  return `${formatOffset(e.ts, t0).padStart(10)}  ${e.kind.padEnd(19)} ${subject(e)}  — ${e.reason}`;
}

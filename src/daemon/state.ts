import { readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { type GroupState, initialState } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import type { GroupSpec } from "../groups/types.js";
import { type Clock, fromWall, toWall } from "../util/clock.js";

/**
 * A switch the controller decided and the daemon has not finished yet: written before its actions run and
 * cleared after they ended, so a switch cut short by a crash is finished at the next start (DESIGN
 * "Durability").
 */
export interface SwitchIntent {
  readonly from: string;
  readonly to: string;
  readonly kind: StandbyEvent["kind"];
  readonly reason: string;
}

/**
 * What survives a restart of one group: the durable part of its controller state, times in *wall* ms (the
 * monotonic clock restarts with the process), plus the switches not finished yet. The per-process part
 * (health, when members became healthy, which members reported, redundancy) is rebuilt at start: the timers
 * that judge fresh data restart with the process.
 */
export type DurableGroupState = Pick<
  GroupState,
  "active" | "since" | "switches" | "frozen" | "pin" | "forced" | "hold" | "probation" | "excluded"
> & {
  /** Switches decided and not finished, oldest first (usually none or one). */
  readonly intents?: readonly SwitchIntent[];
};

export interface PersistedState {
  readonly version: 2;
  /** Wall ms. */
  readonly savedAt: number;
  readonly groups: Readonly<Record<string, DurableGroupState>>;
}

export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

/**
 * The durable fields of a group's state, with monotonic times converted to wall time (saved to disk).
 */
export function toDurable(s: GroupState, intents: readonly SwitchIntent[], clock: Clock): DurableGroupState {
  const w = (t: number) => toWall(t, clock);
  return {
    active: s.active,
    since: w(s.since),
    switches: s.switches.map(w),
    ...(s.frozen
      ? {
          frozen: {
            at: w(s.frozen.at),
            ...(s.frozen.until !== undefined ? { until: w(s.frozen.until) } : {}),
            reason: s.frozen.reason,
            ...(s.frozen.avoid !== undefined ? { avoid: s.frozen.avoid } : {}),
          },
        }
      : {}),
    ...(s.pin
      ? {
          pin: {
            member: s.pin.member,
            ...(s.pin.until !== undefined ? { until: w(s.pin.until) } : {}),
            ...(s.pin.by !== undefined ? { by: s.pin.by } : {}),
          },
        }
      : {}),
    ...(s.forced !== undefined ? { forced: s.forced } : {}),
    hold: s.hold,
    ...(s.probation ? { probation: { to: s.probation.to, until: w(s.probation.until) } } : {}),
    excluded: Object.fromEntries(Object.entries(s.excluded).map(([m, t]) => [m, w(t)])),
    ...(intents.length > 0 ? { intents: [...intents] } : {}),
  };
}

/** Every group's durable state (and its switches not finished), for state.json. */
export function durableGroups(
  groups: readonly GroupSpec[],
  state: (group: string) => GroupState | undefined,
  intents: (group: string) => readonly SwitchIntent[],
  clock: Clock,
): Record<string, DurableGroupState> {
  const out: Record<string, DurableGroupState> = {};
  for (const g of groups) {
    const s = state(g.name);
    if (s) out[g.name] = toDurable(s, intents(g.name), clock);
  }
  return out;
}

/**
 * A group's state at start from its saved durable fields: the per-process fields as a fresh start has them
 * (`initialState`, so redundancy waits for the members to report), the durable ones overlaid, times back on
 * the monotonic clock. Undefined when the saved active member is no longer a member (the group starts afresh).
 */
export function fromDurable(
  spec: GroupSpec,
  d: DurableGroupState,
  now: number,
  clock: Clock,
): GroupState | undefined {
  if (!spec.members.some((m) => m.name === d.active)) return undefined;
  const m = (t: number) => fromWall(t, clock);
  const member = (name: string) => spec.members.some((x) => x.name === name);
  const base = initialState(spec, now, d.active);
  return {
    ...base,
    since: Math.min(m(d.since), now),
    switches: d.switches.map(m),
    ...(d.frozen
      ? {
          frozen: {
            at: m(d.frozen.at),
            ...(d.frozen.until !== undefined ? { until: m(d.frozen.until) } : {}),
            reason: d.frozen.reason,
            ...(d.frozen.avoid !== undefined && member(d.frozen.avoid) ? { avoid: d.frozen.avoid } : {}),
          },
        }
      : {}),
    ...(d.pin && member(d.pin.member)
      ? {
          pin: {
            member: d.pin.member,
            ...(d.pin.until !== undefined ? { until: m(d.pin.until) } : {}),
            ...(d.pin.by !== undefined ? { by: d.pin.by } : {}),
          },
        }
      : {}),
    ...(d.forced !== undefined && member(d.forced) ? { forced: d.forced } : {}),
    // A hold saved under another config (max_hold lowered) is capped by the one in force.
    hold: Math.min(Math.max(d.hold, 0), spec.failback.max_hold),
    ...(d.probation && member(d.probation.to)
      ? { probation: { to: d.probation.to, until: m(d.probation.until) } }
      : {}),
    excluded: Object.fromEntries(
      Object.entries(d.excluded)
        .filter(([x]) => member(x))
        .map(([x, t]) => [x, m(t)]),
    ),
  };
}

/** The file's text for these groups. */
export function serializeState(groups: Readonly<Record<string, DurableGroupState>>, savedAt: number): string {
  const state: PersistedState = { version: 2, savedAt, groups };
  return `${JSON.stringify(state)}\n`;
}

export type LoadResult =
  | { readonly kind: "none" }
  | { readonly kind: "ok"; readonly state: PersistedState }
  /** Unreadable, not JSON, or not shaped as a state file: `why` says which. */
  | { readonly kind: "bad"; readonly why: string };

/** Reads state.json without throwing: none, a checked state, or why it is unusable. */
export async function loadState(stateDir: string): Promise<LoadResult> {
  const path = stateFile(stateDir);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "none" };
    return { kind: "bad", why: `cannot read it: ${(e as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { kind: "bad", why: `not valid JSON (${(e as Error).message})` };
  }
  return checkState(parsed);
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/**
 * Checks the shape of a parsed state file, field by field: a half-written or hand-edited file is refused
 * rather than half-trusted. Version 1 (the whole controller state, times from `Date.now()`) is read for its
 * durable fields.
 */
export function checkState(parsed: unknown): LoadResult {
  const bad = (why: string): LoadResult => ({ kind: "bad", why });
  if (!isObj(parsed)) return bad("not a JSON object");
  if (parsed.version !== 1 && parsed.version !== 2) return bad(`unknown version ${String(parsed.version)}`);
  if (!isObj(parsed.groups)) return bad('no "groups" object');
  const groups: Record<string, DurableGroupState> = {};
  for (const [name, g] of Object.entries(parsed.groups)) {
    const where = `group "${name}"`;
    if (!isObj(g)) return bad(`${where} is not an object`);
    if (!isStr(g.active)) return bad(`${where}: "active" is not a string`);
    if (!isNum(g.since)) return bad(`${where}: "since" is not a number`);
    if (!Array.isArray(g.switches) || !g.switches.every(isNum))
      return bad(`${where}: "switches" is not a list of numbers`);
    if (!isNum(g.hold)) return bad(`${where}: "hold" is not a number`);
    if (!isObj(g.excluded) || !Object.values(g.excluded).every(isNum))
      return bad(`${where}: "excluded" is not an object of numbers`);
    if (
      g.frozen !== undefined &&
      !(
        isObj(g.frozen) &&
        isNum(g.frozen.at) &&
        isStr(g.frozen.reason) &&
        (g.frozen.until === undefined || isNum(g.frozen.until)) &&
        (g.frozen.avoid === undefined || isStr(g.frozen.avoid))
      )
    )
      return bad(`${where}: "frozen" is malformed`);
    if (
      g.pin !== undefined &&
      !(
        isObj(g.pin) &&
        isStr(g.pin.member) &&
        (g.pin.until === undefined || isNum(g.pin.until)) &&
        (g.pin.by === undefined || g.pin.by === "pin" || g.pin.by === "failover")
      )
    )
      return bad(`${where}: "pin" is malformed`);
    if (
      g.probation !== undefined &&
      !(isObj(g.probation) && isStr(g.probation.to) && isNum(g.probation.until))
    )
      return bad(`${where}: "probation" is malformed`);
    if (g.forced !== undefined && !isStr(g.forced)) return bad(`${where}: "forced" is not a string`);
    if (
      g.intents !== undefined &&
      !(
        Array.isArray(g.intents) &&
        g.intents.every((i) => isObj(i) && isStr(i.from) && isStr(i.to) && isStr(i.kind) && isStr(i.reason))
      )
    )
      return bad(`${where}: "intents" is malformed`);
    groups[name] = {
      active: g.active,
      since: g.since,
      switches: g.switches as number[],
      hold: g.hold,
      excluded: g.excluded as Record<string, number>,
      ...(g.frozen !== undefined ? { frozen: g.frozen as DurableGroupState["frozen"] } : {}),
      ...(g.pin !== undefined ? { pin: g.pin as DurableGroupState["pin"] } : {}),
      ...(g.forced !== undefined ? { forced: g.forced as string } : {}),
      ...(g.probation !== undefined ? { probation: g.probation as DurableGroupState["probation"] } : {}),
      ...(g.intents !== undefined ? { intents: g.intents as SwitchIntent[] } : {}),
    };
  }
  const savedAt = isNum(parsed.savedAt) ? parsed.savedAt : 0;
  return { kind: "ok", state: { version: 2, savedAt, groups } };
}

/** Moves an unusable state file aside (`state.json.corrupt-<ts>`), keeping it for a post-mortem. */
export async function setAside(stateDir: string, wallNow: number): Promise<string> {
  const path = stateFile(stateDir);
  const aside = `${path}.corrupt-${new Date(wallNow).toISOString().replace(/[:.]/g, "-")}`;
  await rename(path, aside);
  return aside;
}

/**
 * The values of the vote and instance keys of fleet mode (docs/fleet.md "Keys in etcd"), as `Votes`
 * (src/cluster/votes.ts) writes them and reads them back: whatever another instance (or a person) put there is
 * parsed defensively, a malformed member or field is dropped rather than trusted.
 */
import type { Health } from "../states.js";
import type { FleetVerdict } from "./quorum.js";

/** One member as this instance sees it. */
export interface MemberView {
  readonly health: Health;
  readonly reason?: string;
}

/** What is stored per member in a vote key (`<prefix>/groups/<g>/votes/<observer>`). */
export interface StoredView extends MemberView {
  /** Wall-clock ms when this view (health or reason) last changed. */
  readonly ts: number;
}

/** The value of `<prefix>/instances/<name>`. */
export interface InstanceValue {
  name: string;
  host: string;
  version: string;
  started: number;
  groups: string[];
  targets: string[];
  /** The process's random id: tells its own key from an earlier lease apart from another instance's. */
  id: string;
}

const HEALTHS: readonly string[] = ["healthy", "degraded", "unhealthy", "unknown"];

function parseObject(json: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A vote's value, with malformed members dropped (undefined when it is not an object at all). */
export function parseVote(json: string): Record<string, StoredView> | undefined {
  const v = parseObject(json);
  if (v === undefined) return undefined;
  const out: Record<string, StoredView> = {};
  for (const [m, x] of Object.entries(v)) {
    const s = x as Partial<StoredView> | null;
    if (!s || typeof s !== "object" || !HEALTHS.includes(s.health as string)) continue;
    out[m] = {
      health: s.health as Health,
      ...(typeof s.reason === "string" ? { reason: s.reason } : {}),
      ts: typeof s.ts === "number" ? s.ts : 0,
    };
  }
  return out;
}

/** What `Votes` needs of an instance key: its id, host, and groups (undefined when it does not list them). */
export function parseInstance(json: string): {
  id?: string;
  host: string;
  version?: string;
  groups?: readonly string[];
  targets?: readonly string[];
} {
  const v = parseObject(json) ?? {};
  const strings = (x: unknown[]) => x.filter((g): g is string => typeof g === "string");
  return {
    ...(typeof v.id === "string" ? { id: v.id } : {}),
    host: typeof v.host === "string" ? v.host : "?",
    ...(typeof v.version === "string" ? { version: v.version } : {}),
    ...(Array.isArray(v.groups) ? { groups: strings(v.groups) } : {}),
    ...(Array.isArray(v.targets) ? { targets: strings(v.targets) } : {}),
  };
}

/** The fail-closed verdict: unknown, no quorum, nobody counted. */
export function closedVerdict(reason: string): FleetVerdict {
  return {
    health: "unknown",
    reason,
    observers: 0,
    needed: undefined,
    tally: { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 },
    unhealthyBy: [],
  };
}

/** One read of the fleet: `<prefix>/instances/` and `<prefix>/groups/` (votes, state keys, commands), parsed. */
export interface FleetRead {
  /** Live instance → the shared groups its key lists (undefined when it does not list them). */
  instances: Map<string, readonly string[] | undefined>;
  info: Map<string, { groups?: readonly string[]; targets?: readonly string[] }>;
  /** Group → its state key's raw JSON and mod_revision. */
  states: Map<string, { json: string; modRevision: string }>;
  /** Group → observer → its views. */
  votes: Map<string, Map<string, Record<string, StoredView>>>;
  /** Group → operator commands forwarded to its leader (id → raw JSON). */
  commands: Map<string, Map<string, string>>;
}

export function parseFleetRead(
  prefix: string,
  instanceKvs: readonly { key: Buffer; value: Buffer }[],
  groupKvs: readonly { key: Buffer; value: Buffer; mod_revision: string }[],
): FleetRead {
  const instances = new Map<string, readonly string[] | undefined>();
  const info = new Map<string, { groups?: readonly string[]; targets?: readonly string[] }>();
  for (const kv of instanceKvs) {
    const name = kv.key.toString().slice(`${prefix}/instances/`.length);
    if (!name || name.includes("/")) continue;
    const parsed = parseInstance(kv.value.toString());
    instances.set(name, parsed.groups);
    info.set(name, parsed);
  }
  const states = new Map<string, { json: string; modRevision: string }>();
  const stateRe = new RegExp(`^${escapeRe(prefix)}/groups/([^/]+)/state$`);
  const votes = new Map<string, Map<string, Record<string, StoredView>>>();
  const re = new RegExp(`^${escapeRe(prefix)}/groups/([^/]+)/votes/([^/]+)$`);
  const commands = new Map<string, Map<string, string>>();
  const cmdRe = new RegExp(`^${escapeRe(prefix)}/groups/([^/]+)/commands/([^/]+)$`);
  for (const kv of groupKvs) {
    const c = cmdRe.exec(kv.key.toString());
    if (c) {
      if (!commands.has(c[1]!)) commands.set(c[1]!, new Map());
      commands.get(c[1]!)!.set(c[2]!, kv.value.toString());
      continue;
    }
    const st = stateRe.exec(kv.key.toString());
    if (st) states.set(st[1]!, { json: kv.value.toString(), modRevision: kv.mod_revision });
    const m = re.exec(kv.key.toString());
    if (!m) continue;
    const parsed = parseVote(kv.value.toString());
    if (!parsed) continue;
    const [, group, observer] = m as unknown as [string, string, string];
    if (!votes.has(group)) votes.set(group, new Map());
    votes.get(group)!.set(observer, parsed);
  }
  return { instances, info, states, votes, commands };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Every event standby writes (DESIGN "Events and traces"): one JSON object a line in the event log, `standby
 * simulate --json` and the API. A union discriminated by `kind`; each kind carries exactly the fields that apply.
 * `formatEvent` (src/cli/format.ts) has one entry per kind, checked exhaustive by the compiler.
 */
import type { Labels } from "../engine/types.js";
import type { Health, RuleState } from "../states.js";

/** What every event has. `ts` is wall-clock ms (monotonic in the core; the daemon stamps wall time). */
interface Base {
  readonly ts: number;
  /** Why, in words: the rule(s), values and policy behind it. */
  readonly reason: string;
  /** Written by `standby run --dry-run`: decided, nothing acted on. */
  readonly dry_run?: true;
  /** An operator's call through the API: over the Unix socket, or with the token (TCP). */
  readonly by?: "socket" | "token";
  /** Who made it: "uid 0 (root), pid 4242" (socket), "token 1a2b3c4d" (its hash's start). */
  readonly who?: string;
  /** The reason the operator gave (`--reason`). */
  readonly operator_reason?: string;
}

/** A rule instance that contributes to a decision. */
export interface Culprit {
  readonly rule: string;
  readonly labels: Labels;
  readonly state: RuleState;
  readonly value?: number;
  readonly reason: string;
}

/** The rule instance behind a decision, when there is one. */
interface Cause {
  readonly rule?: string;
  readonly labels?: Labels;
  readonly value?: number;
}

export interface RuleEvent extends Base {
  /** A rule instance changed state. */
  readonly kind: "rule";
  readonly rule: string;
  readonly labels: Labels;
  readonly state: RuleState;
  readonly prev: RuleState;
  readonly value?: number;
}

export interface HealthEvent extends Base, Omit<Cause, "value"> {
  /** A member's health changed. */
  readonly kind: "health";
  readonly group: string;
  readonly member: string;
  readonly state: Health;
}

/** What the events of a shared group's decisions carry (fleet mode, docs/fleet.md). */
interface Fenced {
  /** The instance that decided it: the group's leader. */
  readonly leader?: string;
  /** The leader's fencing token (a decimal int64) the switch is carried out under. */
  readonly fence?: string;
}

export interface SwitchEvent extends Base, Cause, Fenced {
  /** The active member changed: automatically (failover, failback) or by an operator (manual_switch). */
  readonly kind: "failover" | "failback" | "manual_switch";
  readonly group: string;
  readonly from: string;
  readonly to: string;
}

export interface SwitchProgressEvent extends Base {
  /** switch_failed: activating `to` failed (or verify); switch_retry: its activation is run again. */
  readonly kind: "switch_failed" | "switch_retry";
  readonly group: string;
  readonly member: string;
  readonly to: string;
}

export interface SwitchResumedEvent extends Base, Fenced {
  /** A switch a crash cut short is finished at start (or, in a shared group, by the next leader). */
  readonly kind: "switch_resumed";
  readonly group: string;
  readonly from: string;
  readonly to: string;
}

export interface MemberEvent extends Base {
  /** frozen/unfrozen (member: the active one), pinned/unpinned, no_healthy_member (member: the active one). */
  readonly kind: "frozen" | "unfrozen" | "pinned" | "unpinned" | "no_healthy_member";
  readonly group: string;
  readonly member: string;
}

export interface RedundancyEvent extends Base {
  readonly kind: "redundancy_lost" | "redundancy_restored";
  readonly group: string;
}

export interface ActionEvent extends Base {
  /** An action ran (or, in a dry run, would have): its command, result and duration. */
  readonly kind: "action";
  readonly group: string;
  readonly member: string;
  /** The action's kind: route, address, exec, http, bond, snmp_set. */
  readonly action: string;
  /** activate, deactivate or reassert. */
  readonly phase: string;
  readonly ok: boolean;
  readonly argv?: readonly string[];
  readonly exit_code?: number;
  /** The command did not exit even after SIGKILL and was given up on. */
  readonly abandoned?: true;
  readonly pid?: number;
  readonly duration_ms: number;
  readonly output?: string;
}

export interface CollectorEvent extends Base {
  /**
   * A device a collector reads stopped answering (`failing`: a BMC, an SNMP agent, a wrong community or key), or
   * answers again (`ok`). The reason names the target and never holds a secret.
   */
  readonly kind: "collector";
  readonly collector: string;
  readonly target: string;
  readonly state: "failing" | "ok";
}

export interface StateDiscardedEvent extends Base {
  /** state.json was unusable: set aside, and the daemon started as with no saved state. */
  readonly kind: "state_discarded";
}

export interface FleetEvent extends Base {
  /**
   * Fleet mode (docs/fleet.md): leader_elected / leader_lost (this instance started or stopped deciding a shared
   * group), fleet_unavailable / fleet_available (etcd unreachable or without quorum: shared groups do not switch),
   * switch_fenced (a switch not carried out: its fencing token was refused), shards_moved (the shard map changed).
   */
  readonly kind:
    | "leader_elected"
    | "leader_lost"
    | "fleet_unavailable"
    | "fleet_available"
    | "switch_fenced"
    | "shards_moved";
  readonly group?: string;
  readonly leader?: string;
  readonly fence?: string;
  readonly from?: string;
  readonly to?: string;
  /** shards_moved: the targets this instance polls now. */
  readonly targets?: readonly string[];
  /** shards_moved: how many targets changed owner. */
  readonly moved?: number;
}

export type StandbyEvent =
  | RuleEvent
  | HealthEvent
  | SwitchEvent
  | SwitchProgressEvent
  | SwitchResumedEvent
  | MemberEvent
  | RedundancyEvent
  | ActionEvent
  | CollectorEvent
  | StateDiscardedEvent
  | FleetEvent;

export type EventKind = StandbyEvent["kind"];

/** Every kind, in the order of DESIGN's list, then the extensions. */
export const EVENT_KINDS = [
  "rule",
  "health",
  "failover",
  "failback",
  "manual_switch",
  "switch_failed",
  "frozen",
  "unfrozen",
  "pinned",
  "unpinned",
  "redundancy_lost",
  "redundancy_restored",
  "no_healthy_member",
  "action",
  "switch_retry",
  "switch_resumed",
  "state_discarded",
  "collector",
  "leader_elected",
  "leader_lost",
  "fleet_unavailable",
  "fleet_available",
  "switch_fenced",
  "shards_moved",
] as const satisfies readonly EventKind[];

// Compile-time: EVENT_KINDS lists every kind of the union.
type Missing = Exclude<EventKind, (typeof EVENT_KINDS)[number]>;
export const _allKindsListed: Missing extends never ? true : Missing = true;

/** The event of one kind (an interface that covers several kinds, narrowed to this one). */
export type EventOf<K extends EventKind> = StandbyEvent extends infer E
  ? E extends { readonly kind: infer EK }
    ? K extends EK
      ? E & { readonly kind: K }
      : never
    : never
  : never;

/** An event without the fields its emitter adds (distributes over the union). */
export type EventInput<O extends string> = StandbyEvent extends infer E
  ? E extends StandbyEvent
    ? Omit<E, O>
    : never
  : never;

/**
 * Fleet mode in one object (issue 12, docs/fleet.md): the etcd client, this instance's lease, its registration
 * and observer votes (`Votes`), one `Election` per shared group, and the shared groups' state keys. The daemon
 * owns one when the config has `cluster:`; src/daemon/fleet.ts wires it to the pipeline and the switcher.
 *
 * Everything here fails closed: `decides(group)` is true only while this instance's election key leads and its
 * lease is held by its own clock; verdicts are unknown while etcd cannot be vouched for; a switch runs only
 * after a transaction that compares the fencing token succeeded.
 */
import { EventEmitter } from "node:events";
import type { Etcd3 } from "etcd3";
import { resolveSecret } from "../config/secrets.js";
import type { Quorum } from "../groups/types.js";
import { type Clock, systemClock } from "../util/clock.js";
import { createClient, normalizePrefix } from "./client.js";
import type { ClusterSpec as ConfigClusterSpec } from "./config.js";
import { Election, type ElectionStatus } from "./election.js";
import { type InstanceLease, instanceLease } from "./lease.js";
import type { FleetVerdict } from "./quorum.js";
import { type MemberView, Votes } from "./votes.js";

export interface FleetOptions {
  spec: ConfigClusterSpec;
  host: string;
  version: string;
  /** The shared groups and shared targets in this instance's config. */
  groups: readonly string[];
  targets: readonly string[];
  clock?: Clock;
  /** Tests and benchmarks: build the client themselves. */
  client?: Etcd3;
}

export interface FleetEvents {
  /** This instance now decides `group`, under fencing token `fence`. */
  elected: [group: string, fence: string];
  /** It no longer does. */
  deposed: [group: string, reason: string];
  /** etcd cannot be vouched for (no lease held by our clock): shared groups do not switch. */
  unavailable: [reason: string];
  /** The lease is held again after `unavailable`. */
  available: [];
  /** The picture of the fleet was re-read (votes, instances, state keys) or an election changed. */
  change: [];
  /** Another instance holds this instance's name. */
  refused: [reason: string];
}

/** One shared group's state key as the leader writes it (docs/fleet.md "Keys in etcd"); times are wall ms. */
export interface SharedStateValue {
  readonly leader: string;
  readonly fence: string;
  /** The durable group state (src/daemon/state.ts DurableGroupState), with the switch in progress, if any. */
  readonly state: Record<string, unknown> & { readonly active: string };
  readonly intent?: {
    readonly from: string;
    readonly to: string;
    readonly kind: string;
    readonly reason: string;
    readonly fence: string;
  };
  readonly savedAt: number;
}

export interface FleetStatus {
  readonly name: string;
  readonly prefix: string;
  readonly lease: {
    readonly id?: string;
    readonly held: boolean;
    readonly ttl_ms: number;
    readonly error?: string;
  };
  readonly available: boolean;
  /** The last error of any etcd call (votes, elections): often more telling than the lease's (a TLS alert). */
  readonly last_error?: string;
  readonly refused?: string;
  readonly instances: readonly {
    readonly name: string;
    readonly host?: string;
    readonly version?: string;
    readonly groups?: readonly string[];
    readonly targets?: readonly string[];
  }[];
  readonly elections: readonly ElectionStatus[];
}

export class Fleet extends EventEmitter<FleetEvents> {
  readonly name: string;
  readonly prefix: string;
  readonly ttlMs: number;
  readonly client: Etcd3;
  readonly lease: InstanceLease;
  readonly votes: Votes;
  private readonly elections = new Map<string, Election>();
  private readonly clock: Clock;
  private readonly ownClient: boolean;
  private unavailableSince: number | undefined;
  private startupTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The last error of an etcd call made here or by the parts (for status and events). */
  lastError: string | undefined;

  /** Builds the parts; nothing talks to etcd before start(). The password is read here (async: `create`). */
  private constructor(opts: FleetOptions, client: Etcd3) {
    super();
    this.setMaxListeners(0);
    const { spec } = opts;
    this.name = spec.name;
    this.prefix = normalizePrefix(spec.prefix);
    this.clock = opts.clock ?? systemClock;
    this.client = client;
    this.ownClient = opts.client === undefined;
    this.lease = instanceLease(client, spec, this.clock);
    this.ttlMs = this.lease.ttlMs;
    this.votes = new Votes(client, this.lease, {
      prefix: spec.prefix,
      name: spec.name,
      host: opts.host,
      version: opts.version,
      groups: opts.groups,
      targets: opts.targets,
      clock: this.clock,
    });
    this.votes.on("change", () => this.emit("change"));
    this.votes.on("refused", (r) => this.emit("refused", r));
    this.votes.on("error", (e) => (this.lastError = e.message));
    this.lease.on("lost", (_id, reason) =>
      this.setUnavailable(`this instance's etcd lease was lost: ${reason}`),
    );
    this.lease.on("granted", () => this.setAvailable());
    for (const g of opts.groups) this.addElection(g);
  }

  /** A fleet for the `cluster:` block (its password resolved, its TLS files read). */
  static async create(opts: FleetOptions): Promise<Fleet> {
    const { spec } = opts;
    const client =
      opts.client ??
      createClient({
        etcd: spec.etcd,
        ...(spec.tls ? { tls: spec.tls } : {}),
        ...(spec.auth
          ? { auth: { user: spec.auth.user, password: await resolveSecret(spec.auth.password) } }
          : {}),
        lease_ttl: spec.lease_ttl,
        prefix: spec.prefix,
        name: spec.name,
      });
    return new Fleet(opts, client);
  }

  start(): void {
    this.lease.start();
    this.votes.start();
    for (const e of this.elections.values()) e.start();
    // etcd unreachable from the start: say so once the lease could have been granted.
    this.startupTimer = setTimeout(() => {
      if (!this.lease.held()) this.setUnavailable(`no etcd lease within ${this.ttlMs} ms of start`);
    }, this.ttlMs);
    this.startupTimer.unref();
  }

  /** After a reload: elections for added shared groups start, those of removed ones resign. */
  async setMembership(groups: readonly string[], targets: readonly string[]): Promise<void> {
    for (const g of groups) if (!this.elections.has(g)) this.addElection(g).start();
    const gone = [...this.elections.keys()].filter((g) => !groups.includes(g));
    for (const g of gone) {
      const e = this.elections.get(g)!;
      this.elections.delete(g);
      await e.close();
    }
    this.votes.setMembership(groups, targets);
  }

  private addElection(group: string): Election {
    const e = new Election(
      this.client,
      this.lease,
      { prefix: this.prefix, name: this.name },
      { group, clock: this.clock },
    );
    e.on("elected", (fence) => this.emit("elected", group, fence));
    e.on("deposed", (reason) => this.emit("deposed", group, reason));
    e.on("change", () => this.emit("change"));
    e.on("error", (err) => (this.lastError = err.message));
    this.elections.set(group, e);
    return e;
  }

  /** Whether etcd can be vouched for now: this instance's lease is held by its own clock. */
  available(now: number = this.clock.mono()): boolean {
    return this.lease.held(now);
  }

  /** Whether this instance decides `group` now (leads it, lease held). */
  decides(group: string, now: number = this.clock.mono()): boolean {
    return this.elections.get(group)?.isLeader(now) ?? false;
  }

  /** The fencing token while this instance leads `group`. */
  fence(group: string): string | undefined {
    return this.elections.get(group)?.fence;
  }

  /** The leader of `group` as last read. */
  leader(group: string): string | undefined {
    return this.elections.get(group)?.leader()?.name;
  }

  election(group: string): ElectionStatus | undefined {
    return this.elections.get(group)?.status();
  }

  /** The fleet's verdict on a shared member; `own` is this instance's view now (counted instead of its last vote). */
  verdict(group: string, member: string, quorum: Quorum, now?: number, own?: MemberView): FleetVerdict {
    return this.votes.verdict(group, member, quorum, now, own);
  }

  /** Publishes this instance's view of a shared group's members (written when it changed). */
  publish(group: string, views: Readonly<Record<string, MemberView>>): void {
    this.votes.publish(group, views).catch((e: Error) => (this.lastError = e.message));
  }

  stateKey(group: string): string {
    return `${this.prefix}/groups/${group}/state`;
  }

  /** The group's state key as last read by the votes' reads (followers adopt it). */
  cachedState(group: string): SharedStateValue | undefined {
    const raw = this.votes.stateOf(group);
    return raw ? parseState(raw.json) : undefined;
  }

  /** A linearizable read of the group's state key (a new leader carries on from it). Throws when etcd cannot answer. */
  async readState(group: string): Promise<SharedStateValue | undefined> {
    const json = await this.client.get(this.stateKey(group)).string();
    return json === null ? undefined : parseState(json);
  }

  /**
   * Writes the group's state key if this instance's election key still has create_revision `fence`: false when
   * refused (another instance leads); throws when etcd cannot be asked (treat as "not written").
   */
  async writeState(group: string, fence: string, value: SharedStateValue): Promise<boolean> {
    const e = this.elections.get(group);
    if (!e) return false;
    return e.fencedTxn(fence, [this.client.put(this.stateKey(group)).value(JSON.stringify(value))]);
  }

  /** Whether `fence` is still this instance's leading token for `group`, asked of etcd (a compare-only txn). */
  async checkFence(group: string, fence: string): Promise<boolean> {
    const e = this.elections.get(group);
    if (!e) return false;
    return e.fencedTxn(fence, []);
  }

  /** Runs `ops` in one transaction if `fence` is still this instance's leading token for `group`. */
  async fencedOps(group: string, fence: string, ops: Parameters<Election["fencedTxn"]>[1]): Promise<boolean> {
    const e = this.elections.get(group);
    if (!e) return false;
    return e.fencedTxn(fence, ops);
  }

  /** Re-reads the elections (after a refused fence: the picture is stale). */
  recheck(): void {
    for (const e of this.elections.values()) e.recheckNow();
  }

  status(): FleetStatus {
    const now = this.clock.mono();
    return {
      name: this.name,
      prefix: this.prefix,
      lease: {
        ...(this.lease.id !== undefined ? { id: this.lease.id } : {}),
        held: this.lease.held(now),
        ttl_ms: this.ttlMs,
        ...(this.lease.lastError ? { error: this.lease.lastError } : {}),
      },
      available: this.lease.held(now),
      ...(this.lastError !== undefined ? { last_error: this.lastError } : {}),
      ...(this.votes.refusal ? { refused: this.votes.refusal } : {}),
      instances: [...this.votes.instancesRead()].map(([name, i]) => ({ name, ...i })),
      elections: [...this.elections.values()].map((e) => e.status(now)),
    };
  }

  /** Resigns every election, deletes this instance's keys, revokes the lease and closes the client (bounded). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.startupTimer);
    await Promise.allSettled([...this.elections.values()].map((e) => e.close()));
    await this.votes.close().catch(() => {});
    await this.lease.close();
    if (this.ownClient) this.client.close();
  }

  private setUnavailable(reason: string): void {
    if (this.closed || this.unavailableSince !== undefined) return;
    this.unavailableSince = this.clock.mono();
    this.emit("unavailable", reason);
  }

  private setAvailable(): void {
    if (this.unavailableSince === undefined) return;
    this.unavailableSince = undefined;
    this.emit("available");
  }
}

/** A state key's value, or undefined when it is not one (written by hand, another version): never trusted half. */
export function parseState(json: string): SharedStateValue | undefined {
  try {
    const v = JSON.parse(json) as Partial<SharedStateValue>;
    if (typeof v !== "object" || v === null) return undefined;
    if (typeof v.leader !== "string" || typeof v.fence !== "string" || typeof v.savedAt !== "number")
      return undefined;
    if (typeof v.state !== "object" || v.state === null || typeof v.state.active !== "string")
      return undefined;
    const i = v.intent;
    if (
      i !== undefined &&
      !(
        typeof i === "object" &&
        i !== null &&
        typeof i.from === "string" &&
        typeof i.to === "string" &&
        typeof i.kind === "string" &&
        typeof i.reason === "string" &&
        typeof i.fence === "string"
      )
    )
      return undefined;
    return v as SharedStateValue;
  } catch {
    return undefined;
  }
}

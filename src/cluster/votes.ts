/**
 * Observer votes (issue 12, docs/fleet.md "The observer quorum"): every instance publishes its own view of each
 * shared member under its lease, `<prefix>/groups/<g>/votes/<instance>` = `{member: {health, reason, ts}}`, and
 * registers itself as `<prefix>/instances/<name>` under the same lease, so a dead instance's view and presence
 * vanish with it. The daemon uses it through `Fleet` (fleet.ts).
 *
 * Reading: the in-memory picture of the fleet is only ever replaced by a full linearizable range read of
 * `<prefix>/instances/` and `<prefix>/groups/` (never patched from watch events). A watch on the prefix only
 * triggers that read (on put, delete, and on reconnect), and a timer re-reads every lease interval × 2: a watch
 * that reconnects cannot make it miss a delete, the next read simply no longer has the key.
 *
 * Writing: a vote is put only when its JSON changed or the lease was re-granted (a new lease id); the `ts` of a
 * member's view is when its health or reason last changed, so an unchanged view writes nothing.
 *
 * Fail closed: `verdict()` is `unknown` when this instance's lease is not held by its own clock (etcd unreachable
 * or no quorum), and when the last successful read is older than the lease TTL.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import type { Etcd3 } from "etcd3";
import type { Quorum } from "../groups/types.js";
import { type Clock, systemClock } from "../util/clock.js";
import { normalizePrefix } from "./client.js";
import type { InstanceLease } from "./lease.js";
import { type FleetVerdict, fleetHealth, type ObserverView } from "./quorum.js";
import {
  closedVerdict,
  type FleetRead,
  type InstanceValue,
  type MemberView,
  parseFleetRead,
  parseInstance,
  type StoredView,
} from "./vote-values.js";
import { WatchLoop } from "./watchloop.js";

export type { MemberView, StoredView } from "./vote-values.js";

export interface VotesOptions {
  /** The fleet's key prefix and this instance's name (a key segment: no slash). */
  prefix: string;
  name: string;
  /** For the instance key's value. */
  host?: string;
  version?: string;
  /** This instance's shared groups and shared targets (published groups are added). */
  groups?: readonly string[];
  targets?: readonly string[];
  /** Re-read and re-flush this often even without a watch event (ms). Default: the lease's interval × 2. */
  recheckMs?: number;
  clock?: Clock;
}

export interface VotesEvents {
  /** The fleet picture was re-read. */
  change: [];
  /** Another instance holds `instances/<name>`: this one stays out of the fleet (it retries). */
  refused: [reason: string];
  /** A call to etcd failed (it retries by itself). */
  error: [err: Error];
}

export class Votes extends EventEmitter<VotesEvents> {
  readonly prefix: string;
  readonly name: string;
  readonly instanceKey: string;
  private readonly clock: Clock;
  private readonly me: InstanceValue;
  /** What this instance wants published, per group. */
  private readonly desired = new Map<string, Record<string, StoredView>>();
  /** What is in etcd, per key: the JSON and the lease it was put under. */
  private readonly written = new Map<string, { json: string; lease: string }>();
  /** My instance key's create_revision under the current lease. */
  private registered: { rev: string; lease: string } | undefined;
  /** The last read (parseFleetRead): live instances, votes, state keys and forwarded commands per group. */
  private last: FleetRead = parseFleetRead("", [], []);
  private lastRead = Number.NEGATIVE_INFINITY;
  private readonly loop: WatchLoop;
  /** Why registration was refused, while it is. */
  refusal: string | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly lease: InstanceLease,
    opts: VotesOptions,
  ) {
    super();
    if (!opts.name || opts.name.includes("/"))
      throw new Error(`votes: bad instance name ${JSON.stringify(opts.name)}`);
    this.prefix = normalizePrefix(opts.prefix);
    this.name = opts.name;
    this.instanceKey = `${this.prefix}/instances/${opts.name}`;
    this.clock = opts.clock ?? systemClock;
    this.loop = new WatchLoop({
      client,
      lease,
      prefix: `${this.prefix}/`,
      recheckMs: opts.recheckMs ?? lease.intervalMs * 2,
      run: () => this.sync(),
      onError: (e) => this.fail(e),
      onLost: () => {
        this.registered = undefined;
      },
      // instances, votes, state keys and forwarded commands (not the elections' leader keys)
      relevant: (key) =>
        key.startsWith(`${this.prefix}/instances/`) || /\/(votes\/[^/]+|state|commands\/[^/]+)$/.test(key),
    });
    this.me = {
      name: opts.name,
      host: opts.host ?? hostname(),
      version: opts.version ?? "",
      started: this.clock.wall(),
      groups: [...(opts.groups ?? [])],
      targets: [...(opts.targets ?? [])],
      id: randomUUID(),
    };
  }

  /** Registers the instance (whenever the lease is held), watches the fleet and keeps the votes published. */
  start(): void {
    this.loop.start();
  }

  /** The vote key of `group` for `observer` (default: this instance). */
  voteKey(group: string, observer: string = this.name): string {
    return `${this.prefix}/groups/${group}/votes/${observer}`;
  }

  /**
   * Sets this instance's view of the members of `group` and writes it if it changed (or the lease is new).
   * Resolves when that write (if any) is done or failed; a failed one is retried by the recheck timer.
   */
  async publish(group: string, views: Readonly<Record<string, MemberView>>): Promise<void> {
    if (!group || group.includes("/")) throw new Error(`votes: bad group name ${JSON.stringify(group)}`);
    const prev = this.desired.get(group) ?? {};
    const wall = this.clock.wall();
    const next: Record<string, StoredView> = {};
    for (const m of Object.keys(views).sort()) {
      const v = views[m]!;
      const p = prev[m];
      const same = p !== undefined && p.health === v.health && p.reason === v.reason;
      next[m] = same
        ? p
        : { health: v.health, ...(v.reason !== undefined ? { reason: v.reason } : {}), ts: wall };
    }
    const changed = !this.desired.has(group) || JSON.stringify(next) !== JSON.stringify(prev);
    this.desired.set(group, next);
    if (!this.me.groups.includes(group)) this.me.groups.push(group);
    if (!changed) return; // nothing to write: no run (a re-read would call back into the publisher)
    this.kick();
    await this.settled();
  }

  /** The live observers' views of `member` in `group`, as last read. */
  views(group: string, member: string): ObserverView[] {
    const out: ObserverView[] = [];
    for (const [observer, vote] of this.last.votes.get(group) ?? []) {
      const v = vote[member];
      if (v)
        out.push({ observer, health: v.health, ...(v.reason !== undefined ? { reason: v.reason } : {}) });
    }
    return out.sort((a, b) => (a.observer < b.observer ? -1 : a.observer > b.observer ? 1 : 0));
  }

  /** The commands forwarded to `group`'s leader, as last read (id → raw JSON). */
  commandsOf(group: string): ReadonlyMap<string, string> {
    return this.last.commands.get(group) ?? new Map();
  }

  /** The raw `groups/<g>/state` as last read (the leader's JSON and the key's mod_revision). */
  stateOf(group: string): { json: string; modRevision: string } | undefined {
    return this.last.states.get(group);
  }

  /** The live instances (name → the shared groups and targets their key lists), as last read. */
  instancesRead(): ReadonlyMap<string, { groups?: readonly string[]; targets?: readonly string[] }> {
    return this.last.info;
  }

  /** The wall-clock age of the last successful read (ms), Infinity before one. */
  readAge(now: number = this.clock.mono()): number {
    return now - this.lastRead;
  }

  /** Replaces the shared groups and targets this instance's key lists (after a reload); written at once. */
  setMembership(groups: readonly string[], targets: readonly string[]): void {
    this.me.groups = [...new Set([...groups, ...this.desired.keys()])].sort();
    this.me.targets = [...targets].sort();
    for (const g of [...this.desired.keys()]) if (!groups.includes(g)) this.desired.delete(g);
    this.kick();
  }

  /** The live instances that have `group` (an instance whose key does not list its groups counts for all). */
  live(group: string): string[] {
    return [...this.last.instances]
      .filter(([, groups]) => groups === undefined || groups.includes(group))
      .map(([n]) => n)
      .sort();
  }

  /**
   * The fleet's verdict on `member` (fleetHealth over the live observers), or `unknown` when this instance cannot
   * vouch for its picture: its lease is not held at `now` (monotonic ms), or the last read is older than the TTL.
   */
  verdict(
    group: string,
    member: string,
    quorum: Quorum,
    now: number = this.clock.mono(),
    own?: MemberView,
  ): FleetVerdict {
    if (!this.lease.held(now)) {
      const why = this.lease.lastError ? ` (${this.lease.lastError})` : "";
      return closedVerdict(
        `etcd unreachable: this instance's lease is not held${why}: ${member} unknown, no failover`,
      );
    }
    if (now - this.lastRead > this.lease.ttlMs)
      return closedVerdict(
        `etcd unreachable: the votes were last read ${Math.round(now - this.lastRead)} ms ago: ${member} unknown, no failover`,
      );
    // This instance's own view as it is now, not as last read (its write may still be on the way).
    const views = own
      ? [
          ...this.views(group, member).filter((v) => v.observer !== this.name),
          {
            observer: this.name,
            health: own.health,
            ...(own.reason !== undefined ? { reason: own.reason } : {}),
          },
        ]
      : this.views(group, member);
    return fleetHealth(member, views, quorum, this.live(group).length);
  }

  /** Resolves when the read/write run in progress (and one queued after it) has finished. */
  async settled(): Promise<void> {
    await this.loop.settled();
  }

  /** Stops watching and deletes this instance's keys (its votes and its instance key), best effort. */
  async close(): Promise<void> {
    if (this.loop.closed) return;
    await this.loop.close();
    await this.settled().catch(() => {});
    const reg = this.registered;
    this.registered = undefined;
    if (!reg) return;
    const deadline = Date.now() + 1000;
    const deletes = [...this.desired.keys()].map((g) => this.client.delete().key(this.voteKey(g)));
    await this.client
      .if(this.instanceKey, "Create", "==", reg.rev)
      .then(...deletes, this.client.delete().key(this.instanceKey))
      .options({ deadline })
      .commit()
      .catch(() => {});
  }

  /** Writes and re-reads now, or right after the run in progress. */
  private kick(): void {
    this.loop.kick();
  }

  private async sync(): Promise<void> {
    await this.flush().catch((e: Error) => this.fail(e));
    await this.read();
  }

  /** Registers (under the current lease) and writes every vote whose JSON or lease differs from what is in etcd. */
  private async flush(): Promise<void> {
    const lease = this.lease.id;
    if (lease === undefined || !this.lease.held()) return;
    if (this.registered?.lease !== lease) await this.register(lease);
    const reg = this.registered;
    if (reg?.lease !== lease) return;
    const json = JSON.stringify(this.me);
    const w = this.written.get(this.instanceKey);
    if (w?.json !== json || w.lease !== lease) {
      const r = await this.client
        .if(this.instanceKey, "Create", "==", reg.rev)
        .then(this.client.put(this.instanceKey).value(json).lease(lease))
        .commit();
      if (!r.succeeded) {
        this.registered = undefined; // deleted under us: register again
        this.loop.again();
        return;
      }
      this.written.set(this.instanceKey, { json, lease });
    }
    for (const [group, views] of this.desired) {
      const key = this.voteKey(group);
      const vjson = JSON.stringify(views);
      const old = this.written.get(key);
      if (old?.json === vjson && old.lease === lease) continue;
      this.written.delete(key);
      await this.client.put(key).value(vjson).lease(lease).exec();
      this.written.set(key, { json: vjson, lease });
    }
  }

  /** Creates `instances/<name>` under `lease` if no other instance holds it (see docs/fleet.md "Keys"). */
  private async register(lease: string): Promise<void> {
    const r = await this.client
      .if(this.instanceKey, "Create", "==", 0)
      .then(this.client.put(this.instanceKey).value(JSON.stringify(this.me)).lease(lease))
      .else(this.client.get(this.instanceKey))
      .commit();
    if (r.succeeded) {
      this.registered = { rev: r.header.revision, lease };
      this.written.set(this.instanceKey, { json: JSON.stringify(this.me), lease });
      this.refusal = undefined;
      return;
    }
    const kv = r.responses[0]?.response_range?.kvs[0];
    if (!kv) return; // gone meanwhile: the next run creates it
    const { id, host } = parseInstance(kv.value.toString());
    if (kv.lease === lease && id === this.me.id) {
      this.registered = { rev: kv.create_revision, lease };
      return;
    }
    if (id === this.me.id) {
      // ours from an earlier lease (lost, not yet expired): delete it and register afresh
      await this.client
        .if(this.instanceKey, "Create", "==", kv.create_revision)
        .then(this.client.delete().key(this.instanceKey))
        .commit();
      this.loop.again();
      return;
    }
    const reason = `instance name "${this.name}" is taken by another instance (host ${host}): staying out of the fleet`;
    if (this.refusal !== reason) {
      this.refusal = reason;
      this.emit("refused", reason);
    }
  }

  /** Replaces the picture with one linearizable read of the instances and the votes. */
  private async read(): Promise<void> {
    const started = this.clock.mono();
    const [inst, groups] = await Promise.all([
      this.client.getAll().prefix(`${this.prefix}/instances/`).exec(),
      this.client.getAll().prefix(`${this.prefix}/groups/`).exec(),
    ]);
    if (this.loop.closed) return;
    const { instances, info, states, votes, commands } = parseFleetRead(this.prefix, inst.kvs, groups.kvs);
    // a key of ours that the read no longer has (deleted by hand, or a late revoke of an old lease): write it again
    if (this.registered && !instances.has(this.name)) {
      this.registered = undefined;
      this.loop.again();
    }
    for (const group of this.desired.keys())
      if (this.written.has(this.voteKey(group)) && !votes.get(group)?.has(this.name)) {
        this.written.delete(this.voteKey(group));
        this.loop.again();
      }
    this.last = { instances, info, states, votes, commands };
    this.lastRead = started;
    this.emit("change");
  }

  /** An 'error' event only for listeners (an unheard 'error' would kill the process). */
  private fail(e: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", e);
  }
}

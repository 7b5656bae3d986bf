/**
 * The instance's etcd lease (issue 12): the liveness of this daemon in the fleet. Its election keys, its
 * observer votes and its shard membership are put under it, so they vanish when it dies.
 *
 * Its own keepalive loop, not etcd3's: `client.lease(ttl, { autoKeepAlive: false })` and one `keepaliveOnce`
 * every TTL/4 with a deadline of 80 % of that interval. etcd3's loop notices a stalled stream only after a TTL and
 * may reconnect to the same hung member, which lost the lease 4 of 6 times with one member SIGSTOPped at TTL 2;
 * this loop lost it 1 of 12 (shared/recipes/etcd.md). With the quorum read, a hung follower cost it again until
 * the round's read got the client's per-attempt deadline (see `keepalive`); a hung raft leader still can at TTL 2–3 s
 * (BENCHMARKS.md, "Fleet mode: etcd").
 *
 * Fail closed on our own clock: `held(now)` is true only while now < (the send time of the last acknowledged
 * keepalive round, or of the grant) + TTL − margin; a round is a keepalive plus a linearizable read (see
 * `quorumKey`), both acknowledged. etcd expires the lease TTL after it *received* that keepalive, which
 * is later, so while `held` says yes the server still has the lease. Both clocks must agree: the monotonic one
 * (immune to NTP steps) and the wall clock (which, unlike CLOCK_MONOTONIC, runs on through a system suspend).
 * etcd3's own `'lost'` is late (3.9–6.1 s at TTL 2 with etcd unreachable); this one fires at the expiry.
 *
 * A lost lease is gone for good: it is revoked (best effort, so its keys go at once) and a new one is granted as
 * soon as etcd answers; holders of keys re-put them on `'granted'`.
 */
import { EventEmitter } from "node:events";
import { type Etcd3, EtcdLeaseInvalidError, type Lease } from "etcd3";
import { type Clock, systemClock } from "../util/clock.js";
import { CALL_DEADLINE_MS, type ClusterSpec, leaseTtlSeconds, normalizePrefix } from "./client.js";

export interface LeaseOptions {
  /** The lease TTL in ms (granted in whole seconds, at least 2 s). */
  ttlMs: number;
  /** Subtracted from the TTL by the fail-closed clock. Default: min(500, TTL/8) ms. */
  marginMs?: number;
  /** Keepalive period. Default TTL/4. */
  intervalMs?: number;
  /** The deadline of one keepalive (and of a revoke). Default 80 % of the interval. */
  deadlineMs?: number;
  /**
   * A key read linearizably with every keepalive (it need not exist): the round counts only if both succeed. An
   * etcd leader that has lost its peers still acknowledges keepalives until it steps down (an election timeout,
   * 1 s by default, measured: acks 0.75 s after 2 of 3 members were killed); the read needs a quorum, so the
   * lease stops counting as held within TTL − margin of the quorum's loss. `instanceLease()` sets
   * `<prefix>/quorum`; without it the bound is TTL + etcd's election timeout.
   */
  quorumKey?: string;
  clock?: Clock;
}

export interface LeaseEvents {
  /** A new lease was granted (its decimal id). */
  granted: [id: string];
  /** The lease is lost: the fail-closed clock ran out or etcd said it no longer exists. */
  lost: [id: string, reason: string];
}

export class InstanceLease extends EventEmitter<LeaseEvents> {
  readonly ttlSeconds: number;
  readonly ttlMs: number;
  readonly marginMs: number;
  readonly intervalMs: number;
  readonly deadlineMs: number;
  private readonly clock: Clock;
  private readonly quorumKey: string | undefined;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  /** Monotonic and wall-clock instants until which the lease counts as held. */
  private monoExpiry = Number.NEGATIVE_INFINITY;
  private wallExpiry = Number.NEGATIVE_INFINITY;
  private loopTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  /** The last error of a grant or keepalive (for status and events). */
  lastError: string | undefined;

  constructor(
    private readonly client: Etcd3,
    opts: LeaseOptions,
  ) {
    super();
    this.ttlSeconds = leaseTtlSeconds(opts.ttlMs);
    this.ttlMs = this.ttlSeconds * 1000;
    this.marginMs = opts.marginMs ?? Math.min(500, this.ttlMs / 8);
    this.intervalMs = opts.intervalMs ?? this.ttlMs / 4;
    this.deadlineMs = opts.deadlineMs ?? Math.round(this.intervalMs * 0.8);
    this.clock = opts.clock ?? systemClock;
    this.quorumKey = opts.quorumKey;
  }

  /** Starts granting and keeping the lease alive (idempotent). */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.schedule(0);
  }

  /** The current lease's decimal id (also while its clock has run out but the loss is not yet handled). */
  get id(): string | undefined {
    return this.leaseId;
  }

  /** Whether the lease is certainly alive in etcd at `now` (monotonic ms) by the fail-closed clock. */
  held(now: number = this.clock.mono()): boolean {
    return this.leaseId !== undefined && now < this.monoExpiry && this.clock.wall() < this.wallExpiry;
  }

  /** The monotonic instant until which the lease is held (−Infinity without one). */
  get expiresAt(): number {
    return this.leaseId === undefined ? Number.NEGATIVE_INFINITY : this.monoExpiry;
  }

  /** Resolves with the lease id once one is held (immediately if it is), rejects after `timeoutMs`. */
  whenHeld(timeoutMs: number): Promise<string> {
    if (this.held()) return Promise.resolve(this.leaseId!);
    return new Promise((resolve, reject) => {
      const done = (id: string) => {
        clearTimeout(t);
        resolve(id);
      };
      const t = setTimeout(() => {
        this.off("granted", done);
        reject(
          new Error(`no etcd lease within ${timeoutMs} ms${this.lastError ? `: ${this.lastError}` : ""}`),
        );
      }, timeoutMs);
      this.once("granted", done);
    });
  }

  /**
   * Stops the loop (for tests: a paused process, a crash) without revoking: etcd expires the lease TTL after the
   * last keepalive. `held()` keeps following the clock.
   */
  stopKeepalive(): void {
    this.running = false;
    clearTimeout(this.loopTimer);
  }

  /** Stops the loop and revokes the lease, so every key under it goes at once (bounded by the deadline). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopKeepalive();
    clearTimeout(this.expiryTimer);
    const lease = this.lease;
    this.lease = undefined;
    this.leaseId = undefined;
    this.monoExpiry = this.wallExpiry = Number.NEGATIVE_INFINITY;
    if (lease) await lease.revoke({ deadline: Date.now() + Math.max(this.deadlineMs, 1000) }).catch(() => {});
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    clearTimeout(this.loopTimer);
    this.loopTimer = setTimeout(() => void this.tick(), Math.max(0, ms));
  }

  private async tick(): Promise<void> {
    const t0 = this.clock.mono();
    if (this.lease === undefined) await this.grant();
    else await this.keepalive();
    this.schedule(this.intervalMs - (this.clock.mono() - t0));
  }

  private async grant(): Promise<void> {
    const sentMono = this.clock.mono();
    const sentWall = this.clock.wall();
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: false });
    lease.on("lost", () => {}); // etcd3 emits its own (late) loss; ours is the clock's
    let id: string;
    try {
      id = await lease.grant();
    } catch (e) {
      // A circuit breaker that is open says only that: keep the error that opened it.
      const msg = (e as Error).message;
      if (!(/circuit breaker is open/i.test(msg) && this.lastError))
        this.lastError = `lease grant failed: ${msg}`;
      lease.release();
      return;
    }
    if (!this.running) {
      // stopped (closed) while the grant was on its way: give it back
      await lease.revoke({ deadline: Date.now() + this.deadlineMs }).catch(() => {});
      return;
    }
    this.lease = lease;
    this.leaseId = id;
    this.lastError = undefined;
    this.extend(sentMono, sentWall);
    this.emit("granted", id);
  }

  private async keepalive(): Promise<void> {
    const lease = this.lease!;
    const sentMono = this.clock.mono();
    const sentWall = this.clock.wall();
    // A keepalive that failed (a hung member: its deadline ran out, which opened that member's circuit breaker)
    // is sent once more at once, so to another member. The read gets no deadline of its own: the client's per
    // attempt (1 s) applies, and its retry goes to another member with a fresh one. A round deadline there made
    // the retry run already expired on a healthy member, whose breaker then opened too: with every breaker open
    // the next rounds failed at once, and the lease was lost in 6 of 6 trials at TTL 2 (BENCHMARKS.md).
    const once = () => lease.keepaliveOnce({ deadline: Date.now() + this.deadlineMs });
    const [ka, quorum] = await Promise.allSettled([
      once().catch((e: unknown) => {
        if (e instanceof EtcdLeaseInvalidError || lease !== this.lease) throw e;
        return once();
      }),
      this.quorumKey === undefined ? Promise.resolve() : this.readQuorum(this.quorumKey),
    ]);
    if (lease !== this.lease) return;
    if (ka.status === "fulfilled" && quorum.status === "fulfilled") {
      this.lastError = undefined;
      this.extend(sentMono, sentWall);
      return;
    }
    if (ka.status === "rejected") {
      this.lastError = `lease keepalive failed: ${(ka.reason as Error).message}`;
      if (ka.reason instanceof EtcdLeaseInvalidError)
        return this.lose("etcd no longer knows the lease (it expired)");
    } else if (quorum.status === "rejected") {
      this.lastError = `quorum check (linearizable read) failed: ${(quorum.reason as Error).message}`;
    }
    if (!this.held()) this.lose(`no keepalive acknowledged within the TTL (${this.lastError})`);
  }

  /** The linearizable read of a round, bounded here too in case the client sets no per-attempt deadline. */
  private readQuorum(key: string): Promise<unknown> {
    const bound = 2 * CALL_DEADLINE_MS + this.deadlineMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${bound} ms`)), bound);
    });
    return Promise.race([this.client.get(key).exec(), timeout]).finally(() => clearTimeout(timer));
  }

  /** An acknowledged keepalive (or grant) sent at these instants: held until TTL − margin after them. */
  private extend(sentMono: number, sentWall: number): void {
    const validMs = this.ttlMs - this.marginMs;
    this.monoExpiry = Math.max(this.monoExpiry, sentMono + validMs);
    this.wallExpiry = Math.max(this.wallExpiry, sentWall + validMs);
    clearTimeout(this.expiryTimer);
    const left = Math.min(this.monoExpiry - this.clock.mono(), this.wallExpiry - this.clock.wall());
    this.expiryTimer = setTimeout(() => {
      if (this.lease === undefined || this.held()) return;
      this.lose(`no keepalive acknowledged within the TTL${this.lastError ? ` (${this.lastError})` : ""}`);
    }, left + 1);
  }

  /** The lease is gone: say so, revoke it (best effort: its keys go now rather than at the server's expiry). */
  private lose(reason: string): void {
    const lease = this.lease;
    const id = this.leaseId;
    if (lease === undefined || id === undefined) return;
    this.lease = undefined;
    this.leaseId = undefined;
    this.monoExpiry = this.wallExpiry = Number.NEGATIVE_INFINITY;
    clearTimeout(this.expiryTimer);
    void lease.revoke({ deadline: Date.now() + Math.max(this.deadlineMs, 1000) }).catch(() => {});
    this.emit("lost", id, reason);
    if (this.running) this.schedule(0);
  }
}

/** The instance's lease for a `cluster:` spec: its TTL, and the quorum check on `<prefix>/quorum`. */
export function instanceLease(
  client: Etcd3,
  spec: Pick<ClusterSpec, "lease_ttl" | "prefix">,
  clock?: Clock,
): InstanceLease {
  return new InstanceLease(client, {
    ttlMs: spec.lease_ttl,
    quorumKey: `${normalizePrefix(spec.prefix)}/quorum`,
    clock,
  });
}

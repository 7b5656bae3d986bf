/**
 * One shared group's leader election (issue 12): the instances that share a group each put
 * `<prefix>/groups/<group>/leader/<instance>` = instance name under their lease (a transaction that creates it
 * only if it does not exist); the leader is the key with the lowest create_revision. A new key always gets a
 * higher revision than the existing ones, so a leader stays leader as long as its key lives — which its lease
 * bounds, and the lease's fail-closed clock tells (src/cluster/lease.ts). Everyone watches the prefix and
 * re-checks on a delete (a leader's lease expired or was revoked) and on a put.
 *
 * etcd3's Campaign is not used: it cannot take a lease with our own keepalive loop (shared/recipes/etcd.md).
 *
 * The **fencing token** is the leader key's create_revision, a decimal string (an int64: never `Number()` it).
 * `fencedTxn(fence, ops)` runs `ops` only if that key still has that create_revision: a leader that was paused
 * past its lease and resumes with an old token is refused by etcd itself, whatever its own state says.
 */
import { EventEmitter } from "node:events";
import type { Etcd3, IKeyValue, IOperation, IRequestOp } from "etcd3";
import { type Clock, systemClock } from "../util/clock.js";
import { normalizePrefix } from "./client.js";
import type { InstanceLease } from "./lease.js";
import { WatchLoop } from "./watchloop.js";

/** The current leader as last read from etcd. */
export interface LeaderInfo {
  readonly name: string;
  readonly key: string;
  /** The leader key's create_revision: the fencing token (decimal). */
  readonly createRevision: string;
  /** The lease the key lives under (decimal). */
  readonly lease: string;
}

export interface ElectionStatus {
  readonly group: string;
  readonly leader: LeaderInfo | undefined;
  readonly isLeader: boolean;
  /** This instance's fencing token while it leads. */
  readonly fence: string | undefined;
  /** The other candidates, by create_revision (the first one would lead next). */
  readonly followers: readonly string[];
}

export interface ElectionOptions {
  /** The group's name (a key segment: no slash). */
  group: string;
  /** Re-read the candidates this often even without a watch event (ms). Default: the lease's interval × 2. */
  recheckMs?: number;
  clock?: Clock;
}

export interface ElectionEvents {
  /** This instance became leader with this fencing token. */
  elected: [fence: string];
  /** This instance stopped leading (another key leads, its key or lease went, or it resigned). */
  deposed: [reason: string];
  /** The leader or the candidates changed (also after `elected`/`deposed`). */
  change: [status: ElectionStatus];
  /** A call to etcd failed (the election retries by itself). */
  error: [err: Error];
}

export class Election extends EventEmitter<ElectionEvents> {
  readonly group: string;
  /** `<prefix>/groups/<group>/leader/` */
  readonly keyPrefix: string;
  /** This instance's candidate key. */
  readonly key: string;
  private readonly name: string;
  private readonly clock: Clock;
  /** My key's create_revision and the lease it was put under, once it exists. */
  private mine: { rev: string; lease: string } | undefined;
  private current: LeaderInfo | undefined;
  private others: string[] = [];
  private wasLeader = false;
  private readonly loop: WatchLoop;

  constructor(
    private readonly client: Etcd3,
    private readonly lease: InstanceLease,
    spec: { prefix: string; name: string },
    opts: ElectionOptions,
  ) {
    super();
    if (!opts.group || opts.group.includes("/"))
      throw new Error(`election: bad group name ${JSON.stringify(opts.group)}`);
    if (!spec.name || spec.name.includes("/"))
      throw new Error(`election: bad instance name ${JSON.stringify(spec.name)}`);
    this.group = opts.group;
    this.keyPrefix = `${normalizePrefix(spec.prefix)}/groups/${opts.group}/leader/`;
    this.key = this.keyPrefix + spec.name;
    this.name = spec.name;
    this.clock = opts.clock ?? systemClock;
    this.loop = new WatchLoop({
      client,
      lease,
      prefix: this.keyPrefix,
      recheckMs: opts.recheckMs ?? lease.intervalMs * 2,
      run: () => this.sync(),
      onError: (e) => this.fail(e),
      onLost: (_id, reason) => {
        this.mine = undefined;
        this.update(`the lease was lost: ${reason}`);
      },
    });
  }

  /** Starts campaigning: watches the candidates and puts this instance's key whenever the lease is held. */
  start(): void {
    this.loop.start();
  }

  /** True only while this instance's key leads and the lease is held by the fail-closed clock at `now`. */
  isLeader(now: number = this.clock.mono()): boolean {
    const m = this.mine;
    return (
      m !== undefined &&
      this.lease.held(now) &&
      this.lease.id === m.lease &&
      this.current?.key === this.key &&
      this.current.createRevision === m.rev
    );
  }

  /** The fencing token while this instance leads (decimal create_revision of its key), else undefined. */
  get fence(): string | undefined {
    return this.isLeader() ? this.mine?.rev : undefined;
  }

  /** The leader as last read (undefined when there is none or etcd has not answered yet). */
  leader(): LeaderInfo | undefined {
    return this.current;
  }

  /** The other candidates' names, in the order they would lead. */
  get followers(): readonly string[] {
    return this.others;
  }

  status(now: number = this.clock.mono()): ElectionStatus {
    const isLeader = this.isLeader(now);
    return {
      group: this.group,
      leader: this.current,
      isLeader,
      fence: isLeader ? this.mine?.rev : undefined,
      followers: this.others,
    };
  }

  /**
   * Runs `ops` in one etcd transaction only if this instance's leader key still has create_revision `fence`
   * (the token taken when the switch was decided). Returns whether they ran; throws when etcd cannot be asked
   * (no quorum, deadline): the caller must treat that as "did not run" too.
   */
  async fencedTxn(
    fence: string,
    ops: readonly (IOperation | IRequestOp)[],
    deadlineMs = 2000,
  ): Promise<boolean> {
    if (!/^[1-9]\d*$/.test(fence)) throw new Error(`fencedTxn: bad fencing token ${JSON.stringify(fence)}`);
    const r = await this.client
      .if(this.key, "Create", "==", fence)
      .then(...ops)
      .options({ deadline: Date.now() + deadlineMs })
      .commit();
    return r.succeeded;
  }

  /** Says it is no longer a candidate: deletes its key (if it is still the one it made) and stops watching. */
  async close(): Promise<void> {
    if (this.loop.closed) return;
    await this.loop.close();
    const m = this.mine;
    this.mine = undefined;
    this.update("resigned");
    if (m && this.lease.held())
      await this.client
        .if(this.key, "Create", "==", m.rev)
        .then(this.client.delete().key(this.key))
        .options({ deadline: Date.now() + 1000 })
        .commit()
        .catch(() => {});
  }

  /** Re-reads the candidates now (e.g. after a fencing token was refused: the picture is stale). */
  recheckNow(): void {
    this.kick();
  }

  /** Re-reads (and campaigns) now, or right after the run in progress. */
  private kick(): void {
    this.loop.kick();
  }

  private async sync(): Promise<void> {
    if (this.lease.held() && this.lease.id !== undefined && this.mine?.lease !== this.lease.id)
      await this.campaign();
    const r = await this.client.getAll().prefix(this.keyPrefix).sort("Create", "Ascend").exec();
    if (this.loop.closed) return;
    const kvs = [...r.kvs].sort((a, b) => cmpRev(a.create_revision, b.create_revision));
    const first = kvs[0];
    this.current = first ? info(first) : undefined;
    this.others = kvs.filter((kv) => kv.key.toString() !== this.key).map((kv) => kv.value.toString());
    const own = kvs.find((kv) => kv.key.toString() === this.key);
    if (this.mine && (!own || own.create_revision !== this.mine.rev)) {
      this.mine = undefined; // deleted under us (by hand, or our lease went): campaign again
      this.loop.again();
    }
    this.update(this.current ? `${this.current.name} leads` : "no leader");
  }

  /** Creates this instance's key under the current lease (or finds it made by a retried call). */
  private async campaign(): Promise<void> {
    const lease = this.lease.id!;
    const r = await this.client
      .if(this.key, "Create", "==", 0)
      .then(this.client.put(this.key).value(this.name).lease(lease))
      .else(this.client.get(this.key))
      .commit();
    if (r.succeeded) {
      this.mine = { rev: r.header.revision, lease };
      return;
    }
    const kv = r.responses[0]?.response_range?.kvs[0];
    if (!kv) return; // gone meanwhile: the next run creates it
    if (kv.lease === lease) {
      this.mine = { rev: kv.create_revision, lease };
      return;
    }
    // Ours from an earlier lease (lost, not yet expired): delete it, so the next run makes a fresh key with a new
    // revision — a put would keep the old create_revision, and with it the old fencing token.
    await this.client
      .if(this.key, "Create", "==", kv.create_revision)
      .then(this.client.delete().key(this.key))
      .commit();
    this.loop.again();
  }

  /** An 'error' event only for listeners (an unheard 'error' would kill the process). */
  private fail(e: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", e);
  }

  private update(reason: string): void {
    const now = this.isLeader();
    if (now && !this.wasLeader) this.emit("elected", this.mine!.rev);
    if (!now && this.wasLeader) this.emit("deposed", reason);
    this.wasLeader = now;
    this.emit("change", this.status());
  }
}

function info(kv: IKeyValue): LeaderInfo {
  return {
    name: kv.value.toString(),
    key: kv.key.toString(),
    createRevision: kv.create_revision,
    lease: kv.lease,
  };
}

/** Orders decimal int64 strings without Number(). */
function cmpRev(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

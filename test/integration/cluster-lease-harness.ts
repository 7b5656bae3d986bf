/**
 * One etcd member SIGSTOPped for longer than the lease TTL while quorum holds (2 of 3 answer): does a running
 * InstanceLease on a client of all 3 members keep its lease? The trial samples `held()` every 10 ms from the pause
 * until 1 s after the resume and counts its true→false turns and the `'lost'` events. Shared by
 * test/integration/cluster-lease.test.ts and bench/cluster.ts. No vitest here.
 */
import { type ClusterSpec, createClient } from "../../src/cluster/client.js";
import { instanceLease } from "../../src/cluster/lease.js";
import type { Etcd } from "../peers/etcd.js";

export interface LeaseHangTrial {
  /** The member paused (0-based) and whether it was raft leader when paused. */
  readonly member: number;
  readonly wasRaftLeader: boolean;
  /** held() true→false turns and `'lost'` events during the trial. */
  readonly unheld: number;
  readonly lost: number;
  /** The longest stretch held() was false, in ms. */
  readonly unheldMs: number;
  readonly lastError: string | undefined;
  /** Whether the lease was held again within 3 s after the first second after the resume. */
  readonly heldAtEnd: boolean;
}

/** Pauses `member` for `pauseFactor` × TTL with a settled lease running, then resumes it. */
export async function leaseHangTrial(
  etcd: Etcd,
  ttlMs: number,
  member: number,
  pauseFactor = 3,
): Promise<LeaseHangTrial> {
  const spec: ClusterSpec = { etcd: etcd.endpoints, lease_ttl: ttlMs, prefix: "/sb-hang", name: "hang" };
  const client = createClient(spec);
  const lease = instanceLease(client, spec);
  let lost = 0;
  let lastError: string | undefined;
  lease.on("lost", (_id, reason) => {
    lost++;
    lastError = reason;
  });
  let paused = false;
  try {
    lease.start();
    await lease.whenHeld(10_000);
    // settle: a few rounds, a random phase of the loop
    await sleep(1000 + Math.random() * lease.intervalMs);
    const wasRaftLeader = etcd.raftLeader() === member;
    let unheld = 0;
    let unheldMs = 0;
    let prev = true;
    let since = 0;
    const sample = () => {
      const h = lease.held();
      const now = performance.now();
      if (prev && !h) {
        unheld++;
        since = now;
        if (lease.lastError) lastError ??= lease.lastError;
      }
      if (!h) unheldMs = Math.max(unheldMs, now - since);
      prev = h;
    };
    const timer = setInterval(sample, 10);
    try {
      etcd.pause(member);
      paused = true;
      await sleep(pauseFactor * ttlMs);
      etcd.resume(member);
      paused = false;
      await sleep(1000);
    } finally {
      clearInterval(timer);
    }
    sample();
    for (let t0 = performance.now(); !lease.held() && performance.now() - t0 < 3000; ) await sleep(20);
    const heldAtEnd = lease.held();
    return { member, wasRaftLeader, unheld, lost, unheldMs: Math.round(unheldMs), lastError, heldAtEnd };
  } finally {
    if (paused) etcd.resume(member);
    await lease.close();
    client.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The fleet-mode benchmark (issue 12) on a private 3-member etcd on loopback (test/peers/etcd.ts):
 * - leader takeover: two electors in processes of their own (test/integration/cluster-child.ts) share a group; the
 *   leader is SIGSTOPped at a random phase of its keepalive loop and the time until the other reports `elected`
 *   is measured in this process; the paused one is resumed and its fenced transaction with its old token must be
 *   refused. The two alternate as leader from trial to trial;
 * - the etcd round trip a switch adds: `fencedTxn` (a put fenced by the leader key's create_revision) against a
 *   plain put and a linearizable get, sequentially, from an in-process elector.
 * - a hung member: an instance lease on a client of all 3 members while one member is SIGSTOPped for 3 × TTL
 *   (quorum holds), member i % 3 in trial i, at TTL 2 s and 3 s (test/integration/cluster-lease-harness.ts):
 *   trials in which `'lost'` fired, split by whether the paused member was raft leader.
 * Says "skipped: ..." without etcd or the compiled child. Settings: BENCH_CLUSTER_TRIALS (10),
 * BENCH_CLUSTER_TTL_MS (2000), BENCH_CLUSTER_TXNS (1000), BENCH_CLUSTER_HANG_TRIALS (10 per TTL; 0 skips).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "../src/cluster/client.js";
import { Election } from "../src/cluster/election.js";
import { instanceLease } from "../src/cluster/lease.js";
import { childMissing, ElectorProcess } from "../test/integration/cluster-harness.js";
import { type LeaseHangTrial, leaseHangTrial } from "../test/integration/cluster-lease-harness.js";
import { until } from "../test/peers/common.js";
import { Etcd } from "../test/peers/etcd.js";

const env = (name: string, def: number) => Number(process.env[name] ?? def);

export interface Quantiles {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface ClusterBenchResult {
  readonly etcd: string;
  readonly ttlMs: number;
  /** SIGSTOP of the leader's process → the other process's `elected` line, in ms. */
  readonly takeover: Quantiles & { readonly trials: number[] };
  /** Resumed stale leaders that did not think they led and whose fenced transaction etcd refused, of all trials. */
  readonly staleRefused: string;
  /** Sequential round trips in ms. */
  readonly fencedTxn: Quantiles;
  readonly put: Quantiles;
  readonly get: Quantiles;
  /** One member SIGSTOPped 3 × TTL, quorum intact: per TTL, trials that lost the lease (raft leader / follower paused). */
  readonly hungMember: {
    ttlMs: number;
    lost: string;
    leaderPausedLost: string;
    followerPausedLost: string;
  }[];
}

/** Nearest-rank quantiles, rounded to 0.01 ms. */
export function quantiles(xs: readonly number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    min: r(s[0] ?? Number.NaN),
    p50: r(q(0.5)),
    p99: r(q(0.99)),
    max: r(s.at(-1) ?? Number.NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
  };
}

function etcdVersion(): string {
  const r = spawnSync("etcd", ["--version"], { encoding: "utf8", timeout: 5000 });
  return /etcd Version: (\S+)/.exec(r.stdout ?? "")?.[1] ?? "unknown";
}

async function benchTakeover(
  etcd: Etcd,
  ttlMs: number,
  trials: number,
  log: (l: string) => void,
): Promise<{ times: number[]; refused: number }> {
  const base = { etcd: etcd.endpoints, lease_ttl: ttlMs, prefix: "/bench", group: "takeover" };
  const procs = [new ElectorProcess({ ...base, name: "a" }), new ElectorProcess({ ...base, name: "b" })];
  const times: number[] = [];
  let refused = 0;
  try {
    const first = await Promise.race(procs.map((p) => p.ev("elected", 10_000)));
    let leader = procs.find((p) => p.lines.includes(first))!;
    let fence = first.fence as string;
    for (let i = 0; i < trials; i++) {
      const other = procs.find((p) => p !== leader)!;
      // a random phase of the leader's keepalive loop (TTL/4), after both have settled
      await new Promise((r) => setTimeout(r, 500 + Math.random() * (ttlMs / 4)));
      const won = other.ev("elected", ttlMs + 5000);
      const t0 = performance.now();
      leader.pause();
      const w = await won;
      times.push(w.at - t0);
      leader.resume();
      const txn = await leader.ask({ cmd: "txn", fence, value: "stale" });
      if (txn.succeeded === false && txn.isLeader === false) refused++;
      log(
        `cluster: trial ${i + 1}: takeover ${(w.at - t0).toFixed(0)} ms; stale leader ${txn.isLeader === false ? "not leader" : "STILL LEADER"}, its fenced txn ${txn.succeeded === false ? "refused" : `NOT refused (${JSON.stringify(txn)})`}`,
      );
      const stale = leader;
      const since = w.t;
      // the resumed one has a new lease and key before the next trial (a follower again)
      await stale.next((l) => l.ev === "granted" && l.t >= since, 10_000, "a new lease", true);
      await new Promise((r) => setTimeout(r, 200));
      leader = other;
      fence = w.fence as string;
    }
  } finally {
    await Promise.all(procs.map((p) => p.close()));
  }
  return { times, refused };
}

async function benchRoundTrips(
  etcd: Etcd,
  ttlMs: number,
  n: number,
): Promise<{ txn: number[]; put: number[]; get: number[] }> {
  const spec = { etcd: etcd.endpoints, lease_ttl: ttlMs, prefix: "/bench", name: "rt" };
  const client = createClient(spec);
  const lease = instanceLease(client, spec);
  const election = new Election(client, lease, spec, { group: "rt" });
  election.on("error", () => {});
  lease.start();
  election.start();
  const out = { txn: [] as number[], put: [] as number[], get: [] as number[] };
  try {
    await until(() => election.isLeader(), 10_000, "the round-trip elector to lead");
    const fence = election.fence!;
    const key = "/bench/groups/rt/state";
    for (let i = 0; i < 50; i++) await election.fencedTxn(fence, [client.put(key).value("warm")]);
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      if (!(await election.fencedTxn(fence, [client.put(key).value(String(i))])))
        throw new Error("the fenced txn was refused while leading");
      out.txn.push(performance.now() - t);
      t = performance.now();
      await client.put(`${key}-plain`).value(String(i));
      out.put.push(performance.now() - t);
      t = performance.now();
      await client.get(key).string();
      out.get.push(performance.now() - t);
    }
  } finally {
    await election.close();
    await lease.close();
    client.close();
  }
  return out;
}

async function benchHungMember(
  etcd: Etcd,
  trials: number,
  log: (l: string) => void,
): Promise<ClusterBenchResult["hungMember"]> {
  const out: ClusterBenchResult["hungMember"] = [];
  for (const ttlMs of trials > 0 ? [2000, 3000] : []) {
    const rs: LeaseHangTrial[] = [];
    for (let i = 0; i < trials; i++) {
      const r = await leaseHangTrial(etcd, ttlMs, i % etcd.size);
      rs.push(r);
      log(`cluster: hung member, TTL ${ttlMs}: trial ${i + 1}: ${JSON.stringify(r)}`);
      // every member healthy again (a leader elected) before the next trial
      for (let m = 0; m < etcd.size; m++)
        for (let t0 = Date.now(); !(await etcd.healthy(m, 300)) && Date.now() - t0 < 10_000; )
          await new Promise((res) => setTimeout(res, 100));
    }
    const of = (f: (r: LeaseHangTrial) => boolean) =>
      `${rs.filter((r) => f(r) && r.lost > 0).length}/${rs.filter(f).length}`;
    const row = {
      ttlMs,
      lost: of(() => true),
      leaderPausedLost: of((r) => r.wasRaftLeader),
      followerPausedLost: of((r) => !r.wasRaftLeader),
    };
    log(
      `cluster: one member SIGSTOPped 3 × TTL ${ttlMs} ms: lease lost in ${row.lost} trials (raft leader paused ${row.leaderPausedLost}, a follower ${row.followerPausedLost})`,
    );
    out.push(row);
  }
  return out;
}

export async function benchCluster(log: (l: string) => void): Promise<ClusterBenchResult | string> {
  const missing = Etcd.missing() ?? childMissing();
  if (missing !== undefined) return `skipped: ${missing}`;
  const ttlMs = env("BENCH_CLUSTER_TTL_MS", 2000);
  const trials = env("BENCH_CLUSTER_TRIALS", 10);
  const n = env("BENCH_CLUSTER_TXNS", 1000);
  const etcd = new Etcd({ dir: mkdtempSync(join(tmpdir(), "sb-bench-etcd-")) });
  try {
    await etcd.start();
    const version = etcdVersion();
    log(`cluster: etcd ${version}, 3 members on ${etcd.endpoints.join(" ")}`);
    const { times, refused } = await benchTakeover(etcd, ttlMs, trials, log);
    const takeover = { ...quantiles(times), trials: times.map((x) => Math.round(x)) };
    log(
      `cluster: leader SIGSTOPped → takeover at TTL ${ttlMs} ms: p50 ${takeover.p50} ms, max ${takeover.max} ms, min ${takeover.min} ms (n=${takeover.n}); stale fenced txn refused ${refused}/${times.length}`,
    );
    const hungMember = await benchHungMember(etcd, env("BENCH_CLUSTER_HANG_TRIALS", 10), log);
    const rt = await benchRoundTrips(etcd, ttlMs, n);
    const [fencedTxn, put, get] = [quantiles(rt.txn), quantiles(rt.put), quantiles(rt.get)];
    log(
      `cluster: round trips (n=${n}, sequential): fenced txn p50 ${fencedTxn.p50} ms, p99 ${fencedTxn.p99} ms, max ${fencedTxn.max}; put p50 ${put.p50}, p99 ${put.p99}; linearizable get p50 ${get.p50}, p99 ${get.p99}`,
    );
    return {
      etcd: version,
      ttlMs,
      takeover,
      staleRefused: `${refused}/${times.length}`,
      fencedTxn,
      put,
      get,
      hungMember,
    };
  } finally {
    await etcd.destroy();
  }
}

/**
 * One elector in a process of its own, as a daemon would run it (its own etcd client, lease and election), so a
 * test can SIGSTOP it like a hung daemon. Compiled to dist/ and spawned by test/integration/cluster-harness.ts:
 *   node dist/test/integration/cluster-child.js '{"etcd":[...],"lease_ttl":2000,"prefix":"/t","name":"a","group":"g"}'
 * Reports JSON lines on stdout: {ev:"ready"}, {ev:"granted",lease}, {ev:"lost",reason}, {ev:"elected",fence},
 * {ev:"deposed",reason}, and the answers to commands read as JSON lines on stdin:
 *   {cmd:"status"}                    → {ev:"status", isLeader, fence, leader, followers, leaseHeld}
 *   {cmd:"txn", fence?, key, value}   → {ev:"txn", succeeded, ms} or {ev:"txn", error}: a put fenced by `fence`
 *                                       (default: the token this process last led with)
 *   {cmd:"close"}                     → resigns, revokes its lease, {ev:"closed"}, exits 0
 * Every line also carries `t`, the child's wall clock (ms). It exits when stdin closes (its parent died).
 */
import { createInterface } from "node:readline";
import { type ClusterSpec, createClient } from "../../src/cluster/client.js";
import { Election } from "../../src/cluster/election.js";
import { instanceLease } from "../../src/cluster/lease.js";

const spec = JSON.parse(process.argv[2] ?? "{}") as ClusterSpec & { group: string };
const say = (o: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ ...o, t: Date.now() })}\n`);

const client = createClient(spec);
const lease = instanceLease(client, spec);
const election = new Election(client, lease, spec, { group: spec.group });
let lastFence: string | undefined;

lease.on("granted", (id) => say({ ev: "granted", lease: id }));
lease.on("lost", (id, reason) => say({ ev: "lost", lease: id, reason }));
election.on("elected", (fence) => {
  lastFence = fence;
  say({ ev: "elected", fence });
});
election.on("deposed", (reason) => say({ ev: "deposed", reason }));
election.on("error", () => {}); // retried by the election itself

let closing = false;
async function close(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(code), 3000);
  await election.close().catch(() => {});
  await lease.close().catch(() => {});
  client.close();
  clearTimeout(force);
  say({ ev: "closed" });
  process.exit(code);
}

async function command(line: string): Promise<void> {
  const c = JSON.parse(line) as { cmd: string; fence?: string; key?: string; value?: string };
  if (c.cmd === "status") {
    const s = election.status();
    say({ ev: "status", ...s, leaseHeld: lease.held() });
  } else if (c.cmd === "txn") {
    const fence = c.fence ?? lastFence;
    const isLeader = election.isLeader();
    if (fence === undefined) {
      say({ ev: "txn", error: "never led: no fencing token", isLeader });
      return;
    }
    const t0 = performance.now();
    try {
      const key = c.key ?? `${spec.prefix}/groups/${spec.group}/state`;
      const ok = await election.fencedTxn(fence, [client.put(key).value(c.value ?? spec.name)]);
      say({ ev: "txn", succeeded: ok, fence, isLeader, ms: performance.now() - t0 });
    } catch (e) {
      say({ ev: "txn", error: (e as Error).message, fence, isLeader });
    }
  } else if (c.cmd === "close") {
    await close(0);
  }
}

createInterface({ input: process.stdin }).on("line", (l) => void command(l));
process.stdin.on("end", () => void close(0));
process.on("SIGTERM", () => void close(0));
lease.start();
election.start();
say({ ev: "ready", pid: process.pid });

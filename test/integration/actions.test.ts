/**
 * route and address actions for real, as root, in network namespaces of their own:
 *
 *   sb-ac-host: ach0 10.202.0.2/24 ── acp0 10.202.0.1/24 + 10.202.0.254/24 :sb-ac-peer
 *
 * The two peer addresses stand for two gateways. Nothing outside these namespaces is touched. Without root or
 * `ip` the tests are skipped, except in CI (CI=true), where they fail.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addressPresent,
  ReadError,
  readRoutes,
  routeEffective,
  routeInstalled,
  routeMatches,
  routeReader,
} from "../../src/actions/routes.js";
import { type ActionContext, detectArping, runAction } from "../../src/actions/run.js";

const HOST = "sb-ac-host";
const PEER = "sb-ac-peer";
const GW1 = "10.202.0.1";
const GW2 = "10.202.0.254";
const GW6A = "fd20:202::1";
const GW6B = "fd20:202::fe";
const CI = process.env.CI === "true";

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    timeout: 5000,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function tryRun(argv: string[]): boolean {
  try {
    run(argv);
    return true;
  } catch {
    return false;
  }
}

/** What keeps these tests from running here, or undefined. */
function missing(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (network namespaces need root)";
  if (!tryRun(["ip", "-V"])) return "`ip` (iproute2) is not installed";
  if (!tryRun(["ip", "netns", "list"])) return "`ip netns` does not work here";
  return undefined;
}

function deleteOurNamespaces(): void {
  for (const line of run(["ip", "netns", "list"]).split("\n")) {
    const name = line.split(" ")[0];
    if (name?.startsWith("sb-ac-")) tryRun(["ip", "netns", "del", name]);
  }
}

function defaults(): { gateway?: string; dev?: string }[] {
  const routes = JSON.parse(run(["ip", "-n", HOST, "-j", "route"])) as {
    dst: string;
    gateway?: string;
    dev?: string;
  }[];
  return routes.filter((r) => r.dst === "default");
}

function addresses(dev: string): string[] {
  const links = JSON.parse(run(["ip", "-n", HOST, "-j", "addr", "show", "dev", dev])) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  return links.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

const why = missing();
if (why && CI) {
  // In CI the namespace tests must run: a missing prerequisite is a failed test, not a skipped one.
  describe("network namespace prerequisites", () => {
    it("root, ip and ip netns are available (CI=true)", () => {
      throw new Error(`cannot run the namespace tests: ${why}; scripts/test-deps.sh installs iproute2`);
    });
  });
}
const ctx: ActionContext = { group: "uplink", to: "gw", reason: "test", dryRun: false, netns: HOST };
const T = 5000;

describe.skipIf(why !== undefined)("route and address actions in a network namespace", () => {
  beforeAll(() => {
    deleteOurNamespaces();
    run(["ip", "netns", "add", HOST]);
    run(["ip", "netns", "add", PEER]);
    run(["ip", "link", "add", "ach0", "netns", HOST, "type", "veth", "peer", "name", "acp0", "netns", PEER]);
    run(["ip", "-n", HOST, "link", "set", "lo", "up"]);
    run(["ip", "-n", HOST, "link", "set", "ach0", "up"]);
    run(["ip", "-n", PEER, "link", "set", "acp0", "up"]);
    run(["ip", "-n", HOST, "addr", "add", "10.202.0.2/24", "dev", "ach0"]);
    run(["ip", "-n", PEER, "addr", "add", `${GW1}/24`, "dev", "acp0"]);
    run(["ip", "-n", PEER, "addr", "add", `${GW2}/24`, "dev", "acp0"]);
    // nodad: usable at once, no duplicate address detection to wait for.
    run(["ip", "-n", HOST, "addr", "add", "fd20:202::2/64", "dev", "ach0", "nodad"]);
    run(["ip", "-n", PEER, "addr", "add", `${GW6A}/64`, "dev", "acp0", "nodad"]);
    run(["ip", "-n", PEER, "addr", "add", `${GW6B}/64`, "dev", "acp0", "nodad"]);
  });

  afterAll(() => {
    deleteOurNamespaces();
  });

  it("route replace switches the default route between two gateways", async () => {
    const a = await runAction({ route: { to: "default", via: GW1, timeout: T } }, ctx);
    expect(a).toMatchObject({ ok: true, kind: "route", exitCode: 0 });
    expect(a.argv).toEqual(["ip", "netns", "exec", HOST, "ip", "route", "replace", "default", "via", GW1]);
    expect(defaults()).toEqual([expect.objectContaining({ gateway: GW1, dev: "ach0" })]);

    const b = await runAction({ route: { to: "default", via: GW2, timeout: T } }, ctx);
    expect(b.ok).toBe(true);
    expect(defaults()).toEqual([expect.objectContaining({ gateway: GW2, dev: "ach0" })]);

    // Again: replace is idempotent.
    expect((await runAction({ route: { to: "default", via: GW2, dev: "ach0", timeout: T } }, ctx)).ok).toBe(
      true,
    );
    expect(defaults()).toHaveLength(1);
  });

  it("readRoutes and routeMatches see which gateway carries the default route", async () => {
    await runAction({ route: { to: "default", via: GW1, timeout: T } }, ctx);
    let routes = await readRoutes({ netns: HOST });
    expect(routeMatches({ to: "default", via: GW1, timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: GW2, timeout: T }, routes)).toBe(false);
    expect(routeEffective({ to: "default", via: GW1, dev: "ach0", timeout: T }, routes)).toBe(true);

    await runAction({ route: { to: "default", via: GW2, timeout: T } }, ctx);
    routes = await readRoutes({ netns: HOST });
    expect(routeMatches({ to: "default", via: GW1, timeout: T }, routes)).toBe(false);
    expect(routeMatches({ to: "default", via: GW2, timeout: T }, routes)).toBe(true);
    expect(await routeInstalled({ to: "default", via: GW2, timeout: T }, { netns: HOST })).toBe(true);
  });

  it("routes in another table, with a metric", async () => {
    const spec = { to: "198.51.100.0/24", via: GW1, table: 101, metric: 7, timeout: T };
    expect((await runAction({ route: spec }, ctx)).ok).toBe(true);
    expect(routeMatches(spec, await readRoutes({ netns: HOST, table: 101 }))).toBe(true);
    expect(routeMatches(spec, await readRoutes({ netns: HOST }))).toBe(false);
    expect(routeMatches(spec, await readRoutes({ netns: HOST, table: "all" }))).toBe(true);
    expect(await routeInstalled(spec, { netns: HOST })).toBe(true);
    expect(await routeInstalled({ ...spec, metric: 8 }, { netns: HOST })).toBe(false);
  });

  it("a route via an unreachable gateway fails with a clear error and changes nothing", async () => {
    await runAction({ route: { to: "default", via: GW1, timeout: T } }, ctx);
    const r = await runAction({ route: { to: "default", via: "10.99.99.1", timeout: T } }, ctx);
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(2);
    expect(r.error).toMatch(
      /^ip: exit 2: (Nexthop has invalid gateway|RTNETLINK answers: Network is unreachable)/,
    );
    expect(r.error).toContain("(is 10.99.99.1 on the subnet of a local interface that is up?)");
    expect(defaults()).toEqual([expect.objectContaining({ gateway: GW1 })]);

    const d = await runAction({ route: { to: "default", via: GW1, dev: "nope0", timeout: T } }, ctx);
    expect(d.error).toBe('ip: exit 1: Cannot find device "nope0"');
  });

  it("address add and remove are idempotent", async () => {
    const present = { address: "10.202.0.50/24", dev: "ach0", state: "present" as const, timeout: T };
    const absent = { ...present, state: "absent" as const };

    for (let i = 0; i < 2; i++) {
      const r = await runAction({ address: present }, ctx);
      expect(r).toMatchObject({ ok: true, kind: "address" });
      expect(addresses("ach0").filter((a) => a === "10.202.0.50/24")).toHaveLength(1);
      expect(await addressPresent(present, { netns: HOST })).toBe(true);
    }
    for (let i = 0; i < 2; i++) {
      const r = await runAction({ address: absent }, ctx);
      expect(r).toMatchObject({ ok: true, kind: "address" });
      expect(addresses("ach0")).not.toContain("10.202.0.50/24");
      expect(await addressPresent(present, { netns: HOST })).toBe(false);
    }
    const again = await runAction({ address: absent }, ctx);
    expect(again.output).toContain("was already absent");
  });

  it("a present IPv4 address is announced with a gratuitous ARP", async (t) => {
    const flavour = await detectArping();
    if (!flavour) {
      if (CI) throw new Error("arping is not installed (scripts/test-deps.sh installs it)");
      t.skip();
    }
    // Let the peer learn neighbours from gratuitous ARP, so the announcement shows in its neighbour table.
    run(["ip", "netns", "exec", PEER, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/acp0/arp_accept"]);
    const mac = (
      JSON.parse(run(["ip", "-n", HOST, "-j", "link", "show", "dev", "ach0"])) as { address: string }[]
    )[0]!.address;
    const r = await runAction(
      { address: { address: "10.202.0.60/24", dev: "ach0", state: "present", timeout: T } },
      ctx,
    );
    expect(r.ok).toBe(true);
    expect(r.output).toContain("gratuitous ARP sent for 10.202.0.60 on ach0");
    const neigh = JSON.parse(run(["ip", "-n", PEER, "-j", "neigh", "show", "10.202.0.60"])) as {
      lladdr?: string;
    }[];
    expect(neigh[0]?.lladdr).toBe(mac);
    await runAction(
      { address: { address: "10.202.0.60/24", dev: "ach0", state: "absent", timeout: T } },
      ctx,
    );
  });

  it("address errors are clear; a missing device has no address", async () => {
    const r = await runAction(
      { address: { address: "10.202.0.70/24", dev: "nope0", state: "present", timeout: T } },
      ctx,
    );
    expect(r.ok).toBe(false);
    expect(r.error).toBe('ip: exit 1: Cannot find device "nope0"');
    expect(await addressPresent({ address: "10.202.0.70/24", dev: "nope0" }, { netns: HOST })).toBe(false);
  });

  it("exec runs inside the namespace", async () => {
    const r = await runAction(
      { exec: { argv: ["ip", "-o", "link"], env: {}, shell: false, timeout: T } },
      ctx,
    );
    expect(r.ok).toBe(true);
    expect(r.output).toMatch(/ach0@/);
    expect(r.output.trim().split("\n")).toHaveLength(2); // lo and ach0, nothing of the host's
    const nf = await runAction({ exec: { argv: ["/nope"], env: {}, shell: false, timeout: T } }, ctx);
    expect(nf.error).toBe("exec: /nope: no such file");
  });

  it("reading a namespace that does not exist is an error, not an empty table", async () => {
    await expect(readRoutes({ netns: "sb-ac-missing" })).rejects.toBeInstanceOf(ReadError);
    await expect(readRoutes({ netns: "sb-ac-missing" })).rejects.toThrow(
      /^ip: exit \d+: Cannot open network namespace "sb-ac-missing"/,
    );
  });

  it("two IPv4 default routes with different metrics: each action matches its own route (issue 6 item 13)", async () => {
    const a = { to: "default", via: GW1, metric: 100, timeout: T };
    const b = { to: "default", via: GW2, metric: 200, timeout: T };
    tryRun(["ip", "-n", HOST, "route", "del", "default", "metric", "0"]); // the earlier tests' route
    try {
      expect((await runAction({ route: a }, ctx)).ok).toBe(true);
      expect((await runAction({ route: b }, ctx)).ok).toBe(true);
      const read = routeReader({ netns: HOST });
      expect(routeMatches(a, await read(a))).toBe(true);
      expect(routeMatches(b, await read(b))).toBe(true);
      expect(routeMatches({ ...b, metric: 100 }, await read(b))).toBe(false);
      expect(routeEffective(a, await read(a))).toBe(true);
      expect(routeEffective(b, await read(b))).toBe(false);
      // A route without a metric (metric 0) is not the metric-100 one, nor the reverse.
      await runAction({ route: { to: "default", via: GW2, timeout: T } }, ctx);
      const now = await routeReader({ netns: HOST })(a);
      expect(routeMatches({ to: "default", via: GW1, timeout: T }, now)).toBe(false);
      expect(routeMatches({ to: "default", via: GW2, timeout: T }, now)).toBe(true);
      expect(await routeInstalled(a, { netns: HOST })).toBe(true);
    } finally {
      tryRun(["ip", "-n", HOST, "route", "del", "default", "metric", "100"]);
      tryRun(["ip", "-n", HOST, "route", "del", "default", "metric", "200"]);
    }
  });

  it("IPv6 default routes installed by the action match (issue 6 item 13)", async () => {
    const a = { to: "::/0", via: GW6A, timeout: T };
    const b = { to: "default", via: GW6B, metric: 100, timeout: T };
    const r = await runAction({ route: a }, ctx);
    expect(r).toMatchObject({ ok: true, exitCode: 0 });
    expect(r.argv).toEqual([
      "ip",
      "netns",
      "exec",
      HOST,
      "ip",
      "-6",
      "route",
      "replace",
      "::/0",
      "via",
      GW6A,
    ]);
    let read = routeReader({ netns: HOST });
    expect(routeMatches(a, await read(a))).toBe(true);
    expect(routeMatches({ ...a, to: "default" }, await read(a))).toBe(true);
    expect(routeMatches({ ...a, via: GW6B }, await read(a))).toBe(false);
    expect(await routeInstalled(a, { netns: HOST })).toBe(true);
    // An IPv4 reading (what a reader that ignores the family sees) has no IPv6 route.
    expect(routeMatches(a, await readRoutes({ netns: HOST }))).toBe(false);

    expect((await runAction({ route: b }, ctx)).ok).toBe(true);
    read = routeReader({ netns: HOST });
    expect(routeMatches(a, await read(a))).toBe(true);
    expect(routeMatches(b, await read(b))).toBe(true);
    expect(routeEffective(b, await read(b))).toBe(true);
    expect(routeEffective(a, await read(a))).toBe(false);
    // Switching a's gateway replaces a's route (metric 1024), and leaves b's.
    const a2 = { ...a, via: GW6B };
    expect((await runAction({ route: a2 }, ctx)).ok).toBe(true);
    read = routeReader({ netns: HOST });
    expect(routeMatches(a, await read(a))).toBe(false);
    expect(routeMatches(a2, await read(a2))).toBe(true);
    expect(routeMatches(b, await read(b))).toBe(true);
  });

  it("dry run changes nothing", async () => {
    await runAction({ route: { to: "default", via: GW1, timeout: T } }, ctx);
    const r = await runAction({ route: { to: "default", via: GW2, timeout: T } }, { ...ctx, dryRun: true });
    expect(r).toMatchObject({ ok: true, dryRun: true, durationMs: 0 });
    expect(defaults()).toEqual([expect.objectContaining({ gateway: GW1 })]);
  });
});

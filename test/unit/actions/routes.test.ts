import { describe, expect, it } from "vitest";
import {
  addressMatches,
  normalizeDst,
  parseAddresses,
  parseRoutes,
  readAddressesArgv,
  readRoutesArgv,
  routeEffective,
  routeFamily,
  routeMatches,
  routeReader,
} from "../../../src/actions/routes.js";

// Real output of iproute2 6.1 (`ip -j route show`, `ip -j route show table all`, `ip -j addr show dev ax1`).
const MAIN = `[{"dst":"default","gateway":"10.202.0.99","dev":"ax1","flags":[]},{"dst":"10.202.0.0/24","dev":"ax1","protocol":"kernel","scope":"link","prefsrc":"10.202.0.2","flags":[]}]\n`;
const ALL = `[{"dst":"10.9.0.0/16","gateway":"10.202.0.1","dev":"ax1","table":"100","metric":5,"flags":[]},{"dst":"default","gateway":"10.202.0.1","dev":"ax1","flags":[]},{"dst":"10.202.0.0/24","dev":"ax1","protocol":"kernel","scope":"link","prefsrc":"10.202.0.2","flags":[]},{"type":"local","dst":"10.202.0.2","dev":"ax1","table":"local","protocol":"kernel","scope":"host","prefsrc":"10.202.0.2","flags":[]},{"type":"broadcast","dst":"10.202.0.255","dev":"ax1","table":"local","protocol":"kernel","scope":"link","prefsrc":"10.202.0.2","flags":[]}]`;
const ADDR = `[{"ifindex":2,"link_index":2,"ifname":"ax1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"6a:f0:1e:e0:4f:24","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[{"family":"inet","local":"10.202.0.2","prefixlen":24,"scope":"global","label":"ax1","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::68f0:1eff:fee0:4f24","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]`;
const MULTIPATH = `[{"dst":"default","metric":10,"flags":[],"nexthops":[{"gateway":"10.0.1.1","dev":"eth1","weight":1,"flags":[]},{"gateway":"10.0.2.1","dev":"eth2","weight":1,"flags":[]}]}]`;

const T = 5000;

describe("parseRoutes", () => {
  it("keeps the fields standby uses", () => {
    expect(parseRoutes(MAIN)).toEqual([
      { dst: "default", gateway: "10.202.0.99", dev: "ax1" },
      { dst: "10.202.0.0/24", dev: "ax1", protocol: "kernel", scope: "link" },
    ]);
    const all = parseRoutes(ALL);
    expect(all[0]).toEqual({
      dst: "10.9.0.0/16",
      gateway: "10.202.0.1",
      dev: "ax1",
      table: "100",
      metric: 5,
    });
    expect(all[3]?.type).toBe("local");
  });

  it("reads multipath next hops, empty output, and rejects what is not JSON", () => {
    expect(parseRoutes(MULTIPATH)[0]?.nexthops).toEqual([
      { gateway: "10.0.1.1", dev: "eth1" },
      { gateway: "10.0.2.1", dev: "eth2" },
    ]);
    expect(parseRoutes("")).toEqual([]);
    expect(() => parseRoutes("default via 10.0.0.1 dev eth0")).toThrow(/not JSON/);
  });
});

describe("routeMatches", () => {
  const routes = parseRoutes(MAIN);

  it("finds the default route by its gateway", () => {
    expect(routeMatches({ to: "default", via: "10.202.0.99", timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "0.0.0.0/0", via: "10.202.0.99", timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.202.0.1", timeout: T }, routes)).toBe(false);
  });

  it("compares dev and metric only when the action names them", () => {
    expect(routeMatches({ to: "default", via: "10.202.0.99", dev: "ax1", timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.202.0.99", dev: "eth9", timeout: T }, routes)).toBe(false);
    expect(routeMatches({ to: "default", dev: "ax1", timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.202.0.99", metric: 0, timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.202.0.99", metric: 100, timeout: T }, routes)).toBe(false);
  });

  it("matches other destinations, tables from `table all`, and ignores local/broadcast routes", () => {
    const all = parseRoutes(ALL);
    expect(
      routeMatches({ to: "10.9.0.0/16", via: "10.202.0.1", table: 100, metric: 5, timeout: T }, all),
    ).toBe(true);
    expect(routeMatches({ to: "10.9.0.0/16", via: "10.202.0.1", timeout: T }, all)).toBe(false); // main
    expect(routeMatches({ to: "default", via: "10.202.0.1", table: "main", timeout: T }, all)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.202.0.1", table: 254, timeout: T }, all)).toBe(true);
    expect(routeMatches({ to: "10.202.0.2/32", dev: "ax1", timeout: T }, all)).toBe(false);
  });

  it("matches one next hop of a multipath route", () => {
    const mp = parseRoutes(MULTIPATH);
    const at = { to: "default", metric: 10, timeout: T };
    expect(routeMatches({ ...at, via: "10.0.2.1", dev: "eth2" }, mp)).toBe(true);
    expect(routeMatches({ ...at, via: "10.0.2.1", dev: "eth1" }, mp)).toBe(false);
    // The route is metric 10; an action without a metric installs another one (metric 0).
    expect(routeMatches({ to: "default", via: "10.0.2.1", dev: "eth2", timeout: T }, mp)).toBe(false);
  });

  it("routeEffective also needs the lowest metric", () => {
    const two = parseRoutes(
      `[{"dst":"default","gateway":"10.0.1.1","dev":"eth1","metric":100,"flags":[]},{"dst":"default","gateway":"10.0.2.1","dev":"eth2","metric":50,"flags":[]}]`,
    );
    expect(routeMatches({ to: "default", via: "10.0.1.1", metric: 100, timeout: T }, two)).toBe(true);
    expect(routeEffective({ to: "default", via: "10.0.1.1", metric: 100, timeout: T }, two)).toBe(false);
    expect(routeEffective({ to: "default", via: "10.0.2.1", metric: 50, timeout: T }, two)).toBe(true);
  });

  it("normalises destinations the way ip prints them", () => {
    expect(normalizeDst("10.0.0.5/32")).toBe("10.0.0.5");
    expect(normalizeDst("2001:0db8:0::1/128")).toBe("2001:db8::1");
    expect(normalizeDst("::/0")).toBe("default");
    expect(normalizeDst("10.0.0.0/24")).toBe("10.0.0.0/24");
  });
});

// Real output of iproute2 6.1 in a namespace (issue 6 item 13): `ip -j route show` after
// `ip route replace default via 10.203.0.1 metric 100` and `... via 10.203.0.254 metric 200` (replace keys on the
// metric, so both stay), and `ip -6 -j route show` after `ip -6 route replace default via fd20::1` (the kernel's
// IPv6 default metric is 1024) then `ip -6 route replace ::/0 via fd20::fe metric 100`.
const TWO_METRICS = `[{"dst":"default","gateway":"10.203.0.1","dev":"ex0","metric":100,"flags":[]},{"dst":"default","gateway":"10.203.0.254","dev":"ex0","metric":200,"flags":[]},{"dst":"10.203.0.0/24","dev":"ex0","protocol":"kernel","scope":"link","prefsrc":"10.203.0.2","flags":[]}]`;
const V6 = `[{"dst":"fd20::/64","dev":"ex0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"fe80::/64","dev":"ex0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"default","gateway":"fd20::fe","dev":"ex0","metric":100,"flags":[],"pref":"medium"},{"dst":"default","gateway":"fd20::1","dev":"ex0","metric":1024,"flags":[],"pref":"medium"}]`;
// A DHCP client's default route (metric 100) next to the one standby installs without a metric (metric 0).
const DHCP_AND_OURS = `[{"dst":"default","gateway":"10.203.0.254","dev":"ex0","flags":[]},{"dst":"default","gateway":"10.203.0.1","dev":"ex0","protocol":"dhcp","src":"10.203.0.2","metric":100,"flags":[]}]`;

describe("routeMatches: metrics and IPv6 (what `route replace` installs)", () => {
  it("a route with a metric matches only the route with that metric", () => {
    const two = parseRoutes(TWO_METRICS);
    expect(routeMatches({ to: "default", via: "10.203.0.1", metric: 100, timeout: T }, two)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.203.0.254", metric: 200, timeout: T }, two)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.203.0.254", metric: 100, timeout: T }, two)).toBe(false);
    expect(routeMatches({ to: "default", via: "10.203.0.1", metric: 200, timeout: T }, two)).toBe(false);
  });

  it("a route without a metric matches the kernel's default metric (IPv4 0), not another route's", () => {
    const routes = parseRoutes(DHCP_AND_OURS);
    // `ip route replace default via 10.203.0.1` would add a metric-0 route: the DHCP one is not it.
    expect(routeMatches({ to: "default", via: "10.203.0.1", timeout: T }, routes)).toBe(false);
    expect(routeMatches({ to: "default", via: "10.203.0.254", timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.203.0.1", metric: 100, timeout: T }, routes)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.203.0.1", metric: 0, timeout: T }, routes)).toBe(false);
  });

  it("IPv6: `default`/`::/0` via an IPv6 gateway, with the kernel's IPv6 default metric 1024", () => {
    const v6 = parseRoutes(V6);
    expect(routeMatches({ to: "default", via: "fd20::1", timeout: T }, v6)).toBe(true);
    expect(routeMatches({ to: "::/0", via: "FD20:0::1", timeout: T }, v6)).toBe(true);
    expect(routeMatches({ to: "::/0", via: "fd20::1", metric: 1024, timeout: T }, v6)).toBe(true);
    expect(routeMatches({ to: "::/0", via: "fd20::fe", metric: 100, timeout: T }, v6)).toBe(true);
    // replace without a metric installs (or replaces) the metric-1024 route: fd20::fe at 100 is another route.
    expect(routeMatches({ to: "default", via: "fd20::fe", timeout: T }, v6)).toBe(false);
    expect(routeMatches({ to: "fd20::/64", dev: "ex0", metric: 256, timeout: T }, v6)).toBe(true);
    expect(routeEffective({ to: "::/0", via: "fd20::fe", metric: 100, timeout: T }, v6)).toBe(true);
    expect(routeEffective({ to: "::/0", via: "fd20::1", timeout: T }, v6)).toBe(false);
  });

  it("an IPv6 route never matches an IPv4 route, nor the reverse", () => {
    // readRoutes records the family it asked ip for; a route without a gateway says nothing of its own.
    const v4 = parseRoutes(`[{"dst":"default","dev":"ex0","scope":"link","flags":[]}]`, "inet");
    const v6 = parseRoutes(
      `[{"dst":"default","dev":"ex0","metric":1024,"flags":[],"pref":"medium"}]`,
      "inet6",
    );
    expect(v6[0]?.family).toBe("inet6");
    // `to: ::/0` is IPv6 even without a gateway; `to: default, dev` alone is IPv4 (as for ip).
    expect(routeMatches({ to: "::/0", dev: "ex0", timeout: T }, v4)).toBe(false);
    expect(routeMatches({ to: "::/0", dev: "ex0", timeout: T }, v6)).toBe(true);
    expect(routeMatches({ to: "default", dev: "ex0", timeout: T }, v4)).toBe(true);
    expect(routeMatches({ to: "default", dev: "ex0", timeout: T }, v6)).toBe(false);
    // Without a recorded family, a gateway tells.
    expect(routeMatches({ to: "default", via: "10.0.0.1", timeout: T }, parseRoutes(V6))).toBe(false);
  });

  it("routeReader reads each table and family a route action needs, once", async () => {
    const calls: string[][] = [];
    const read = routeReader({
      run: async (argv) => {
        calls.push(argv);
        return argv.includes("-6") ? V6 : TWO_METRICS;
      },
    });
    const v6spec = { to: "default", via: "fd20::1", timeout: T };
    const v4spec = { to: "default", via: "10.203.0.1", metric: 100, timeout: T };
    expect(routeFamily(v6spec)).toBe("inet6");
    expect(routeFamily(v4spec)).toBe("inet");
    expect(routeMatches(v6spec, await read(v6spec))).toBe(true);
    expect(routeMatches(v4spec, await read(v4spec))).toBe(true);
    expect(routeMatches(v4spec, await read({ ...v4spec, metric: 200 }))).toBe(true);
    await read({ to: "10.9.0.0/16", via: "10.203.0.1", table: 100, timeout: T });
    expect(calls).toEqual([
      ["ip", "-6", "-j", "route", "show"],
      ["ip", "-j", "route", "show"],
      ["ip", "-j", "route", "show", "table", "100"],
    ]);
  });
});

describe("addresses", () => {
  const addrs = parseAddresses(ADDR);

  it("parses every address of the interface", () => {
    expect(addrs).toEqual([
      { dev: "ax1", family: "inet", local: "10.202.0.2", prefixlen: 24 },
      { dev: "ax1", family: "inet6", local: "fe80::68f0:1eff:fee0:4f24", prefixlen: 64 },
    ]);
  });

  it("matches address, prefix and device (no prefix means /32)", () => {
    expect(addressMatches({ address: "10.202.0.2/24", dev: "ax1" }, addrs)).toBe(true);
    expect(addressMatches({ address: "10.202.0.2/25", dev: "ax1" }, addrs)).toBe(false);
    expect(addressMatches({ address: "10.202.0.2", dev: "ax1" }, addrs)).toBe(false);
    expect(addressMatches({ address: "10.202.0.2/24", dev: "ax2" }, addrs)).toBe(false);
    expect(addressMatches({ address: "FE80::68F0:1EFF:FEE0:4F24/64", dev: "ax1" }, addrs)).toBe(true);
  });
});

describe("read commands", () => {
  it("uses ip -j with an optional namespace, family and table", () => {
    expect(readRoutesArgv()).toEqual(["ip", "-j", "route", "show"]);
    expect(readRoutesArgv({ netns: "sb-x", table: 101, family: "inet6" })).toEqual([
      "ip",
      "-n",
      "sb-x",
      "-6",
      "-j",
      "route",
      "show",
      "table",
      "101",
    ]);
    expect(readAddressesArgv("eth0", { netns: "sb-x" })).toEqual([
      "ip",
      "-n",
      "sb-x",
      "-j",
      "addr",
      "show",
      "dev",
      "eth0",
    ]);
  });
});

describe("a routing table that does not exist yet", () => {
  it("reads as empty (ip exits 2, FIB table does not exist): reconcile installs the route instead of giving up", async () => {
    // Read-only, and a table number nobody uses: the host's routes are only read.
    const { readRoutes } = await import("../../../src/actions/routes.js");
    expect(await readRoutes({ table: 48_213 })).toEqual([]);
    // Any other failure is still an error.
    await expect(readRoutes({ table: "no-such-table-name" })).rejects.toThrow(/ip: /);
  });
});

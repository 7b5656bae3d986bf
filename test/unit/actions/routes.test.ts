import { describe, expect, it } from "vitest";
import {
  addressMatches,
  normalizeDst,
  parseAddresses,
  parseRoutes,
  readAddressesArgv,
  readRoutesArgv,
  routeEffective,
  routeMatches,
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
    expect(routeMatches({ to: "default", via: "10.0.2.1", dev: "eth2", timeout: T }, mp)).toBe(true);
    expect(routeMatches({ to: "default", via: "10.0.2.1", dev: "eth1", timeout: T }, mp)).toBe(false);
  });

  it("routeEffective also needs the lowest metric", () => {
    const two = parseRoutes(
      `[{"dst":"default","gateway":"10.0.1.1","dev":"eth1","metric":100,"flags":[]},{"dst":"default","gateway":"10.0.2.1","dev":"eth2","metric":50,"flags":[]}]`,
    );
    expect(routeMatches({ to: "default", via: "10.0.1.1", timeout: T }, two)).toBe(true);
    expect(routeEffective({ to: "default", via: "10.0.1.1", timeout: T }, two)).toBe(false);
    expect(routeEffective({ to: "default", via: "10.0.2.1", timeout: T }, two)).toBe(true);
  });

  it("normalises destinations the way ip prints them", () => {
    expect(normalizeDst("10.0.0.5/32")).toBe("10.0.0.5");
    expect(normalizeDst("2001:0db8:0::1/128")).toBe("2001:db8::1");
    expect(normalizeDst("::/0")).toBe("default");
    expect(normalizeDst("10.0.0.0/24")).toBe("10.0.0.0/24");
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

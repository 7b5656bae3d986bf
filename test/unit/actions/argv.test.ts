import { describe, expect, it } from "vitest";
import {
  addressArgv,
  arpingArgv,
  arpingFlavour,
  bondPath,
  defaultHttpBody,
  execArgv,
  execEnv,
  formatArgv,
  inNetns,
  isInterfaceName,
  routeArgv,
  stripPrefix,
} from "../../../src/actions/argv.js";

const T = 5000;

describe("routeArgv", () => {
  it("builds ip route replace with only the parts given", () => {
    expect(routeArgv({ to: "default", via: "10.200.1.1", timeout: T })).toEqual([
      "ip",
      "route",
      "replace",
      "default",
      "via",
      "10.200.1.1",
    ]);
    expect(routeArgv({ to: "default", dev: "wg0", timeout: T })).toEqual([
      "ip",
      "route",
      "replace",
      "default",
      "dev",
      "wg0",
    ]);
    expect(
      routeArgv({ to: "198.51.100.0/24", via: "10.0.0.1", dev: "eth1", table: 101, metric: 20, timeout: T }),
    ).toEqual([
      "ip",
      "route",
      "replace",
      "198.51.100.0/24",
      "via",
      "10.0.0.1",
      "dev",
      "eth1",
      "table",
      "101",
      "metric",
      "20",
    ]);
    expect(routeArgv({ to: "default", via: "10.0.0.1", table: "uplink", metric: 0, timeout: T })).toEqual([
      "ip",
      "route",
      "replace",
      "default",
      "via",
      "10.0.0.1",
      "table",
      "uplink",
      "metric",
      "0",
    ]);
  });

  it("adds -6 for IPv6 destinations or gateways (ip reads a bare `default` as IPv4)", () => {
    expect(routeArgv({ to: "default", via: "fe80::1", dev: "eth0", timeout: T })).toEqual([
      "ip",
      "-6",
      "route",
      "replace",
      "default",
      "via",
      "fe80::1",
      "dev",
      "eth0",
    ]);
    expect(routeArgv({ to: "2001:db8::/32", dev: "eth0", timeout: T })[1]).toBe("-6");
  });
});

describe("addressArgv", () => {
  it("replaces a present address and deletes an absent one", () => {
    expect(addressArgv({ address: "10.0.0.5/24", dev: "eth0", state: "present", timeout: T })).toEqual([
      "ip",
      "addr",
      "replace",
      "10.0.0.5/24",
      "dev",
      "eth0",
    ]);
    expect(addressArgv({ address: "10.0.0.5/24", dev: "eth0", state: "absent", timeout: T })).toEqual([
      "ip",
      "addr",
      "del",
      "10.0.0.5/24",
      "dev",
      "eth0",
    ]);
  });
});

describe("arping", () => {
  const spec = { address: "10.0.0.5/24", dev: "eth0", state: "present" as const, timeout: T };

  it("announces the address without its prefix, in the syntax of the arping installed", () => {
    expect(arpingArgv(spec, "iputils")).toEqual(["arping", "-U", "-c", "1", "-I", "eth0", "10.0.0.5"]);
    expect(arpingArgv(spec, "habets")).toEqual([
      "arping",
      "-U",
      "-c",
      "1",
      "-w",
      "0",
      "-i",
      "eth0",
      "-S",
      "10.0.0.5",
      "10.0.0.5",
    ]);
  });

  it("sends nothing for IPv6 (the kernel announces those itself)", () => {
    expect(arpingArgv({ ...spec, address: "2001:db8::5/64" }, "iputils")).toBeUndefined();
  });

  it("tells Habets' arping from iputils' by its help", () => {
    expect(
      arpingFlavour(
        "ARPing 2.23, by Thomas Habets <thomas@habets.se>\nusage: arping [ -0aAbdDeFpPqrRuUvzZ ]",
      ),
    ).toBe("habets");
    expect(
      arpingFlavour(
        "Usage:\n  arping [options] <destination>\n\nOptions:\n  -U            unsolicited ARP mode, update your neighbours\n  -I <device>   which ethernet device to use",
      ),
    ).toBe("iputils");
  });

  it("strips prefixes", () => {
    expect(stripPrefix("10.0.0.5/24")).toBe("10.0.0.5");
    expect(stripPrefix("10.0.0.5")).toBe("10.0.0.5");
  });
});

describe("exec", () => {
  it("runs argv as given without a shell", () => {
    expect(execArgv({ argv: ["/bin/echo", "$(id)", "a b"], shell: false })).toEqual([
      "/bin/echo",
      "$(id)",
      "a b",
    ]);
  });

  it("with shell: true, argv[0] is the script and the rest are $0, $1, ...", () => {
    expect(execArgv({ argv: ['cp "$1" "$2"', "cp", "a", "b"], shell: true })).toEqual([
      "/bin/sh",
      "-c",
      'cp "$1" "$2"',
      "cp",
      "a",
      "b",
    ]);
    expect(execArgv({ argv: ["echo hi"], shell: true })).toEqual(["/bin/sh", "-c", "echo hi"]);
  });

  it("sets STANDBY_* on top of the base environment; the spec's env wins", () => {
    const env = execEnv(
      { group: "uplink", from: "isp-a", to: "isp-b", reason: "gw-a-down firing" },
      { EXTRA: "1", STANDBY_REASON: "mine" },
      { PATH: "/bin", STANDBY_GROUP: "old" },
    );
    expect(env).toEqual({
      PATH: "/bin",
      STANDBY_GROUP: "uplink",
      STANDBY_FROM: "isp-a",
      STANDBY_TO: "isp-b",
      STANDBY_REASON: "mine",
      EXTRA: "1",
    });
  });

  it("leaves STANDBY_FROM empty when there was no previous member", () => {
    expect(execEnv({ group: "g", to: "a", reason: "start" }, {}, {}).STANDBY_FROM).toBe("");
  });
});

describe("netns, http body, bond paths, formatting", () => {
  it("prefixes ip netns exec only when a namespace is given", () => {
    expect(inNetns(["ip", "route"], "sb-x")).toEqual(["ip", "netns", "exec", "sb-x", "ip", "route"]);
    expect(inNetns(["ip", "route"])).toEqual(["ip", "route"]);
  });

  it("default http body is {group, from, to, reason}", () => {
    expect(JSON.parse(defaultHttpBody({ group: "g", from: "a", to: "b", reason: "r" }))).toEqual({
      group: "g",
      from: "a",
      to: "b",
      reason: "r",
    });
    expect(JSON.parse(defaultHttpBody({ group: "g", to: "b", reason: "r" }))).toEqual({
      group: "g",
      to: "b",
      reason: "r",
    });
  });

  it("accepts only interface names in sysfs paths", () => {
    expect(isInterfaceName("bond0")).toBe(true);
    expect(isInterfaceName("eth0.100")).toBe(true);
    for (const bad of ["", "..", ".", "a/b", "../../etc", "a b", "averyveryverylongname", "eth0:1"]) {
      expect(isInterfaceName(bad)).toBe(false);
    }
    expect(bondPath("bond0")).toBe("/sys/class/net/bond0/bonding/active_slave");
    expect(bondPath("bond0", "/tmp/sys/")).toBe("/tmp/sys/class/net/bond0/bonding/active_slave");
  });

  it("formats argv for messages, quoting what a shell would split", () => {
    expect(formatArgv(["ip", "route", "replace", "default", "via", "10.0.0.1"])).toBe(
      "ip route replace default via 10.0.0.1",
    );
    expect(formatArgv(["/bin/sh", "-c", "echo $(id) 'x'", ""])).toBe(
      `/bin/sh -c 'echo $(id) '\\''x'\\''' ''`,
    );
  });
});

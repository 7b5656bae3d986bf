import { describe, expect, it } from "vitest";
import type { CollectorContext } from "../../../src/collector.js";
import type { ProbeCollectorSpec } from "../config.js";
import {
  createProbeCollector,
  fpingArgs,
  icmpTimeout,
  PROBE_METRICS,
  pingArgs,
  redactUrl,
} from "../index.js";
import { parseHostPort } from "../socket.js";

const ctx: CollectorContext = {
  host: "web-01",
  now: () => 0,
  log: { debug() {}, info() {}, warn() {}, error() {} },
};

function spec(probe: ProbeCollectorSpec["probe"], interval = 100, timeout = 90): ProbeCollectorSpec {
  return { name: "gw-a", type: "probe", interval, timeout, probe };
}

describe("icmp command lines", () => {
  it("fping: one long-running process, timeout below the period", () => {
    expect(fpingArgs({ target: "10.200.1.1", interval: 100, timeout: 90 })).toEqual([
      "-l",
      "-p",
      "100",
      "-t",
      "90",
      "-e",
      "10.200.1.1",
    ]);
    expect(
      fpingArgs({ target: "10.200.1.1", source: "10.200.1.2", iface: "eth1", interval: 100, timeout: 90 }),
    ).toEqual(["-l", "-p", "100", "-t", "90", "-e", "-S", "10.200.1.2", "-I", "eth1", "10.200.1.1"]);
  });

  it("ping: seconds, -O for unanswered probes, -D timestamps; -I for the source and for the device", () => {
    expect(pingArgs({ target: "10.200.1.1", interval: 100, timeout: 90 })).toEqual([
      "-n",
      "-i",
      "0.1",
      "-W",
      "0.09",
      "-O",
      "-D",
      "10.200.1.1",
    ]);
    expect(
      pingArgs({ target: "gw", source: "10.0.0.2", iface: "eth1", interval: 1000, timeout: 999 }),
    ).toEqual(["-n", "-i", "1", "-W", "0.999", "-O", "-D", "-I", "10.0.0.2", "-I", "eth1", "gw"]);
  });

  it("keeps fping's timeout below its period (the config default is timeout = interval)", () => {
    expect(icmpTimeout(100, 90)).toBe(90);
    expect(icmpTimeout(100, 100)).toBe(99);
    expect(icmpTimeout(1000, 5000)).toBe(999);
    expect(icmpTimeout(1, 1)).toBe(1);
  });
});

describe("targets", () => {
  it.each([
    ["10.0.0.1:443", { host: "10.0.0.1", port: 443 }],
    ["gw.example:80", { host: "gw.example", port: 80 }],
    ["[2001:db8::1]:8443", { host: "2001:db8::1", port: 8443 }],
  ])("parses %s", (t, hp) => {
    expect(parseHostPort(t)).toEqual(hp);
  });

  it.each(["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "2001:db8::1:80", "a b:80"])("rejects %s", (t) => {
    expect(parseHostPort(t)).toBeUndefined();
  });

  it("redacts a URL's password (labels and logs show the target)", () => {
    expect(redactUrl("https://mon:s3cret@10.0.0.1/health")).toBe("https://mon:***@10.0.0.1/health");
    expect(redactUrl("http://10.0.0.1/health")).toBe("http://10.0.0.1/health");
  });
});

describe("createProbeCollector", () => {
  it("is a stream collector named after its block", () => {
    const c = createProbeCollector(spec({ kind: "icmp", target: "10.200.1.1" }), ctx);
    expect(c.kind).toBe("stream");
    expect(c.name).toBe("gw-a");
    expect(c.stats.probes).toBe(0);
    expect(PROBE_METRICS).toEqual(["probe.success", "probe.rtt_ms"]);
  });

  it("does nothing when started with an aborted signal, and starts once", () => {
    const c = createProbeCollector(spec({ kind: "tcp", target: "127.0.0.1:9" }), ctx);
    const ac = new AbortController();
    ac.abort();
    const got: unknown[] = [];
    c.start((s) => got.push(...s), ac.signal);
    expect(got).toEqual([]);
    expect(c.stats.starts).toBe(0);
    expect(() => c.start(() => {}, ac.signal)).toThrow(/already started/);
  });

  it("refuses blocks it cannot run, saying what to write instead", () => {
    expect(() =>
      createProbeCollector(spec({ kind: "tcp", target: "10.0.0.1:80", interface: "eth0" }), ctx),
    ).toThrow(/probe gw-a: `interface` works only with kind icmp; a tcp probe binds with `source`/);
    expect(() =>
      createProbeCollector(spec({ kind: "icmp", target: "10.0.0.1", source: "eth0" }), ctx),
    ).toThrow(/source "eth0" is not an IP address/);
    expect(() => createProbeCollector(spec({ kind: "tcp", target: "10.0.0.1" }), ctx)).toThrow(
      /not HOST:PORT/,
    );
    expect(() => createProbeCollector(spec({ kind: "icmp", target: "-f/etc/passwd" }), ctx)).toThrow(
      /must not start with "-"/,
    );
    expect(() => createProbeCollector(spec({ kind: "http", target: "http://[bad/" }), ctx)).toThrow(
      /not a URL/,
    );
  });
});

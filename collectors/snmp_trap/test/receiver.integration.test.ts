/**
 * The receiver against real traps: `snmptrap` / `snmpinform` (net-snmp's tools) send v1, v2c and v3 traps and
 * informs to a receiver on a free UDP port; a fake polled agent registered at 127.0.0.1 gives frozen label
 * objects, and the samples must carry exactly those objects. Then what must never hurt: wrong communities and
 * keys, disallowed sources, garbage datagrams, a port in use.
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { labelsOf } from "../../../src/collector.js";
import type { Labels, Sample } from "../../../src/engine/types.js";
import { registerAgent } from "../../../src/snmp/registry.js";
import { snmp } from "../../../src/snmp/session.js";
import { collectorContext, type Logged } from "../../../test/helpers.js";
import { freeUdpPort } from "../../../test/peers/snmpd.js";
import { schema } from "../config.js";
import { createSnmpTrapCollector, type SnmpTrapCollector } from "../index.js";
import {
  captureTrap,
  FAN_NOTIF,
  fanState,
  getTo,
  ifAdmin,
  ifIndex,
  ifOper,
  inform,
  LINK_DOWN,
  LINK_UP,
  SUPPLY_NOTIF,
  sendRaw,
  supplyState,
  trapToolsMissing,
  trapV1,
  trapV2c,
  trapV3,
  V3_USER,
} from "./senders.js";

const missing = trapToolsMissing();
if (missing !== undefined && process.env.CI === "true") {
  describe("snmp_trap receiver with real traps", () => {
    it("has what it needs", () => {
      throw new Error(`${missing}; under CI=true this test fails rather than skips`);
    });
  });
}
const COMMUNITY = "trapsecret42";

/** The poll's label objects, as a polling snmp collector would hand them out. */
const POLL = labelsOf({ host: "h", collector: "core-router", target: "127.0.0.1:16161" });
const IF2 = labelsOf(POLL, { ifIndex: "2", ifName: "Gi0/2", ifDescr: "GigabitEthernet0/2" });
const IF3 = labelsOf(POLL, { ifIndex: "3", ifName: "Gi0/3", ifDescr: "GigabitEthernet0/3" });
const PSU1 = labelsOf(POLL, { index: "1", descr: "Power Supply 1" });
const FAN1 = labelsOf(POLL, { index: "1", descr: "Fan 1" });
const SERIES: Record<string, Labels> = {
  "snmp.if.oper_status 2": IF2,
  "snmp.if.admin_status 2": IF2,
  "snmp.if.oper_status 3": IF3,
  "snmp.psu 1": PSU1,
  "snmp.fan 1": FAN1,
};
const agent = {
  collector: "core-router",
  target: "127.0.0.1:16161",
  labels: (metric: string, index: string) => SERIES[`${metric} ${index}`],
};

interface Running {
  c: SnmpTrapCollector;
  to: string;
  port: number;
  samples: Sample[];
  logged: Logged[];
  /** What the collector told the daemon about its socket (ctx.report). */
  reports: [string, string | undefined][];
  clock: { t: number };
  stop: () => void;
}

let running: Running[] = [];
let unregister: (() => void) | undefined;
beforeEach(() => {
  unregister = registerAgent("127.0.0.1", agent);
});
afterEach(() => {
  for (const r of running) r.stop();
  running = [];
  unregister?.();
});

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(extra: Record<string, unknown> = {}, port?: number): Promise<Running> {
  const p = port ?? (await freeUdpPort());
  const spec = schema.parse({
    name: "traps",
    type: "snmp_trap",
    listen: `udp:127.0.0.1:${p}`,
    community: COMMUNITY,
    users: [{ user: V3_USER.user, auth: { key: V3_USER.auth }, priv: { key: V3_USER.priv } }],
    ...extra,
  });
  const clock = { t: 1_000_000 };
  const { ctx, logged } = collectorContext(() => clock.t, "h");
  const reports: [string, string | undefined][] = [];
  const c = createSnmpTrapCollector(
    spec,
    { ...ctx, report: (t, e) => reports.push([t, e]) },
    { backoff: { min: 50, max: 200 } },
  );
  const samples: Sample[] = [];
  const ac = new AbortController();
  c.start((s) => samples.push(...s), ac.signal);
  const r = { c, to: `127.0.0.1:${p}`, port: p, samples, logged, reports, clock, stop: () => ac.abort() };
  running.push(r);
  if (port === undefined) await until("listening", () => c.listening);
  return r;
}

describe.skipIf(missing)("snmp_trap receiver with real traps", () => {
  it("linkDown then linkUp (v2c) become the poll's own series, at receipt time", async () => {
    const r = await start();
    r.clock.t = 2_000_000;
    await trapV2c(r.to, COMMUNITY, LINK_DOWN, [...ifIndex(2), ...ifAdmin(2, 1), ...ifOper(2, 2)]);
    await until("linkDown", () => r.samples.length === 2);
    const oper = r.samples.find((s) => s.metric === "snmp.if.oper_status")!;
    expect(oper.labels).toBe(IF2);
    expect(oper).toMatchObject({ state: "failed", value: 2, ts: 2_000_000 });
    const admin = r.samples.find((s) => s.metric === "snmp.if.admin_status")!;
    expect(admin.labels).toBe(IF2);
    expect(admin).toMatchObject({ value: 1, ts: 2_000_000 });

    r.clock.t = 2_000_500;
    await trapV2c(r.to, COMMUNITY, LINK_UP, [...ifIndex(2)]);
    await until("linkUp", () => r.samples.length === 3);
    expect(r.samples[2]).toEqual({
      metric: "snmp.if.oper_status",
      labels: IF2,
      value: 0,
      state: "ok",
      ts: 2_000_500,
    });
    expect(r.samples[2]!.labels).toBe(IF2);
    expect(r.c.stats).toMatchObject({ accepted: 2, samples: 3, rejected_auth: 0, malformed: 0 });
  });

  it("an ifOperStatus varbind decides the state (lowerLayerDown, dormant)", async () => {
    const r = await start();
    await trapV2c(r.to, COMMUNITY, LINK_DOWN, [...ifIndex(3), ...ifOper(3, 7)]);
    await trapV2c(r.to, COMMUNITY, LINK_DOWN, [...ifIndex(2), ...ifOper(2, 5)]);
    await until("two samples", () => r.samples.length === 2);
    expect(r.samples.map((s) => [s.labels, s.state])).toEqual([
      [IF3, "failed"],
      [IF2, "warning"],
    ]);
  });

  it("v1 linkDown (generic 2) and a v1 CISCO-ENVMON fan trap (enterprise, specific 4)", async () => {
    const r = await start();
    await trapV1(r.to, COMMUNITY, { generic: 2 }, ifIndex(3));
    await trapV1(
      r.to,
      COMMUNITY,
      { generic: 6, specific: 4, enterprise: "1.3.6.1.4.1.9.9.13.3" },
      fanState(1, 6),
    );
    await until("two samples", () => r.samples.length === 2);
    expect(r.samples[0]!.labels).toBe(IF3);
    expect(r.samples[0]!.state).toBe("failed");
    expect(r.samples[1]!.labels).toBe(FAN1);
    expect(r.samples[1]!.state).toBe("failed");
  });

  it("a PSU trap (ciscoEnvMonSupplyStatusChangeNotif) becomes snmp.psu: critical → failed, normal → ok", async () => {
    const r = await start();
    await trapV2c(r.to, COMMUNITY, SUPPLY_NOTIF, supplyState(1, 3));
    await until("psu failed", () => r.samples.length === 1);
    await trapV2c(r.to, COMMUNITY, SUPPLY_NOTIF, supplyState(1, 1));
    await trapV2c(r.to, COMMUNITY, FAN_NOTIF, fanState(1, 5));
    await until("three samples", () => r.samples.length === 3);
    expect(r.samples.map((s) => [s.metric, s.labels, s.state])).toEqual([
      ["snmp.psu", PSU1, "failed"],
      ["snmp.psu", PSU1, "ok"],
      ["snmp.fan", FAN1, "absent"],
    ]);
    expect(r.samples[0]!.labels).toBe(PSU1);
  });

  it("v3 authPriv traps from any sender engine ID; a wrong key is rejected and counted", async () => {
    const r = await start({ engine_id: "80001f8880a1b2c3d4e5f6" });
    await trapV3(r.to, { ...V3_USER, engineId: "0x8000000001020304" }, LINK_DOWN, ifIndex(2));
    await trapV3(r.to, V3_USER, LINK_UP, ifIndex(2)); // snmptrap's own engine ID
    await until("two samples", () => r.samples.length === 2);
    expect(r.samples.map((s) => [s.labels, s.state])).toEqual([
      [IF2, "failed"],
      [IF2, "ok"],
    ]);
    await trapV3(
      r.to,
      { ...V3_USER, auth: "wrongpass99", engineId: "0x8000000001020304" },
      LINK_DOWN,
      ifIndex(2),
    );
    await trapV3(r.to, { ...V3_USER, user: "intruder" }, LINK_DOWN, ifIndex(2));
    await until("rejected", () => r.c.stats.rejected_auth === 2);
    expect(r.samples).toHaveLength(2);
    const said = JSON.stringify(r.logged);
    expect(said).toContain("authentication failed");
    expect(said).toContain("unknown user");
    expect(said).not.toContain("wrongpass99");
  });

  it("a v3 trap with an empty user and no authentication is rejected (net-snmp's authorizer lets it by)", async () => {
    const r = await start();
    const s = snmp.createV3Session("127.0.0.1", { name: "", level: snmp.SecurityLevel.noAuthNoPriv }, {
      port: r.port,
      trapPort: r.port,
      version: snmp.Version3,
    } as snmp.SessionOptionsV3);
    s.on("error", () => {});
    await new Promise<void>((res, rej) => s.trap(snmp.TrapType.LinkDown, (err) => (err ? rej(err) : res())));
    s.close();
    await until("rejected", () => r.c.stats.rejected_auth === 1);
    expect(r.c.stats.accepted).toBe(0);
    expect(r.samples).toEqual([]);
    expect(JSON.stringify(r.logged)).toContain("without a configured user");
  });

  it("informs (v2c and v3) are acked and become samples", async () => {
    const r = await start();
    expect(await inform(r.to, { community: COMMUNITY }, LINK_DOWN, ifIndex(2))).toBe(0);
    expect(await inform(r.to, V3_USER, LINK_UP, ifIndex(2))).toBe(0);
    await until("two samples", () => r.samples.length === 2);
    expect(r.samples.map((s) => s.state)).toEqual(["failed", "ok"]);
  });

  it("a wrong community is rejected, counted, and never logged", async () => {
    const r = await start();
    await trapV2c(r.to, "guessed-community", LINK_DOWN, ifIndex(2));
    await trapV1(r.to, "guessed-community", { generic: 2 }, ifIndex(2));
    await until("rejected", () => r.c.stats.rejected_auth === 2);
    expect(r.samples).toEqual([]);
    expect(r.c.stats.accepted).toBe(0);
    const said = JSON.stringify(r.logged);
    expect(said).toContain("wrong community");
    expect(said).not.toContain("guessed-community");
    expect(said).not.toContain(COMMUNITY);
    // logged once per source and reason, counted every time
    expect(r.logged.filter((l) => /wrong community/.test(l.msg ?? ""))).toHaveLength(1);
  });

  it("a source outside allow is dropped undecoded (an inform is not acked)", async () => {
    const r = await start({ allow: ["192.0.2.0/24"] });
    await trapV2c(r.to, COMMUNITY, LINK_DOWN, ifIndex(2));
    expect(await inform(r.to, { community: COMMUNITY }, LINK_DOWN, ifIndex(2), 0.5)).not.toBe(0);
    await until("dropped", () => r.c.stats.rejected_source === 2);
    expect(r.c.stats).toMatchObject({ received: 2, accepted: 0, rejected_auth: 0, malformed: 0 });
    expect(r.samples).toEqual([]);
    expect(r.logged.filter((l) => l.level === "warn")).toHaveLength(1);
  });

  it("default allow: only polled agents; an allowed but unpolled source is unmatched and dropped", async () => {
    unregister?.();
    unregister = undefined;
    const byDefault = await start();
    await trapV2c(byDefault.to, COMMUNITY, LINK_DOWN, ifIndex(2));
    await until("dropped", () => byDefault.c.stats.rejected_source === 1);
    const open = await start({ allow: ["127.0.0.0/8", "::1"] });
    await trapV2c(open.to, COMMUNITY, LINK_DOWN, ifIndex(2));
    await trapV2c(open.to, COMMUNITY, LINK_UP, ifIndex(2));
    await until("unmatched", () => open.c.stats.unmatched === 2);
    expect([...byDefault.samples, ...open.samples]).toEqual([]);
    expect(open.logged.filter((l) => /no snmp collector polls/.test(l.msg ?? ""))).toHaveLength(1);
  });

  it("garbage, truncated BER and a GET are counted as malformed; the receiver goes on", {
    timeout: 20_000,
  }, async () => {
    const r = await start();
    const real = await captureTrap((to) =>
      trapV2c(to, COMMUNITY, LINK_DOWN, [...ifIndex(2), ...ifOper(2, 2)]),
    );
    const truncated = Array.from({ length: real.length - 1 }, (_, i) => real.subarray(0, i + 1));
    const random = Array.from({ length: 200 }, (_, i) => randomBytes(1 + (i % 90)));
    const flipped = Array.from({ length: 100 }, (_, i) => {
      const b = Buffer.from(real);
      b[i % b.length] = b[i % b.length]! ^ 0xff;
      return b;
    });
    await sendRaw(r.port, [...truncated, ...random, ...flipped, Buffer.alloc(0)]);
    await getTo(r.to, COMMUNITY);
    const sent = truncated.length + random.length + flipped.length + 1 + 1;
    const { stats } = r.c;
    await until("all counted", () => stats.received === sent, 10_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(stats)} sent ${sent}`);
    });
    expect(stats.malformed).toBeGreaterThanOrEqual(truncated.length + 150);
    // a flipped byte may still leave a valid trap (a varbind's value, say): accepted, never a crash
    expect(stats.malformed + stats.rejected_auth + stats.accepted).toBe(stats.received);
    expect(r.logged.filter((l) => /malformed/.test(l.msg ?? ""))).toHaveLength(1);
    // still receiving
    r.samples.length = 0;
    await trapV2c(r.to, COMMUNITY, LINK_UP, ifIndex(2));
    await until("a trap after the garbage", () => r.samples.some((s) => s.state === "ok"));
    expect(JSON.stringify(r.logged)).not.toContain(COMMUNITY);
  });

  it("a port in use is an error in the log and retried until it is free; abort closes the socket", async () => {
    const port = await freeUdpPort();
    const blocker = createSocket("udp4");
    await new Promise<void>((res) => blocker.bind(port, "127.0.0.1", res));
    const r = await start({}, port);
    await until("two retries", () => r.logged.filter((l) => /cannot receive/.test(l.msg ?? "")).length >= 2);
    expect(r.c.listening).toBe(false);
    const errors = r.logged.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toContain("in use");
    await new Promise<void>((res) => blocker.close(res));
    await until("listening", () => r.c.listening, 3000);
    expect(r.reports[0]).toEqual([
      `udp:127.0.0.1:${port}`,
      expect.stringMatching(/^cannot receive traps: the port is in use/),
    ]);
    expect(r.reports.at(-1)).toEqual([`udp:127.0.0.1:${port}`, undefined]);
    await trapV2c(r.to, COMMUNITY, LINK_DOWN, ifIndex(2));
    await until("a sample", () => r.samples.length === 1);
    r.stop();
    expect(r.c.listening).toBe(false);
    const again = createSocket("udp4");
    await new Promise<void>((res, rej) => {
      again.once("error", rej);
      again.bind(port, "127.0.0.1", res);
    });
    again.close();
  });
});

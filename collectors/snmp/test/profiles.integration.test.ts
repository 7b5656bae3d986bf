/**
 * The profiles snmpd serves itself (host-resources, ucd), entity-sensor from the test peer's simulated
 * entPhySensorTable, user-defined `oids:` (a scalar and a table with states), and garbage replies from a UDP
 * server that is not an agent. Under CI=true a missing snmpd fails the run instead of skipping.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_STATE, Snmpd, snmpdMissing } from "../../../test/peers/snmpd.js";
import { collector, find, one, poll, spec, up } from "./helpers.js";

const missing = snmpdMissing();
if (missing !== undefined && process.env.CI === "true") {
  describe("snmp profiles against snmpd", () => {
    it("has what it needs", () => {
      throw new Error(`${missing}; under CI=true this test fails rather than skips`);
    });
  });
}

const agent = new Snmpd();

describe.skipIf(missing !== undefined)("snmp profiles against snmpd", () => {
  beforeAll(
    () =>
      agent.start({
        ...DEFAULT_STATE,
        sensors: [
          { index: 11, name: "PSU1 Input", type: 3, scale: 9, precision: 1, value: 2301 },
          { index: 12, name: "", descr: "CPU Temperature", type: 8, scale: 9, value: 41 },
          { index: 13, name: "Fan 2", type: 10, scale: 10, precision: 2, value: 512, status: 3 },
          { index: 14, name: "12V rail", type: 4, scale: 8, value: 12050, status: 2 },
        ],
      }),
    20_000,
  );
  afterAll(() => agent.close());

  it("host-resources: device states and storage used percent", async () => {
    const { c } = collector(spec(agent.port, { profiles: ["host-resources"] }));
    try {
      const s = await poll(c);
      expect(up(s)).toBe(1);
      const devices = find(s, "snmp.device");
      expect(devices.length).toBeGreaterThan(0);
      expect(devices.some((d) => d.labels.type === "processor" && d.state === "ok")).toBe(true);
      const mem = one(s, "snmp.storage.used_percent", { descr: "Physical memory" });
      expect(mem.value).toBeGreaterThan(0);
      expect(mem.value).toBeLessThanOrEqual(100);
      expect(one(s, "snmp.storage.size_bytes", { descr: "Physical memory" }).value).toBeGreaterThan(1e6);
    } finally {
      await c.close();
    }
  });

  it("ucd: load averages and dskTable", async () => {
    const { c } = collector(spec(agent.port, { profiles: ["ucd"] }));
    try {
      const s = await poll(c);
      for (const m of ["snmp.load.1", "snmp.load.5", "snmp.load.15"]) {
        expect(one(s, m).value).toBeGreaterThanOrEqual(0);
        expect(Object.keys(one(s, m).labels).sort()).toEqual(["collector", "host", "target"]);
      }
      const root = one(s, "snmp.disk.used_percent", { path: "/" });
      expect(root.value).toBeGreaterThanOrEqual(0);
      expect(root.value).toBeLessThanOrEqual(100);
    } finally {
      await c.close();
    }
  });

  it("entity-sensor: values scaled to units, names, types, status as a component state", async () => {
    const { c } = collector(spec(agent.port, { profiles: ["entity-sensor"] }));
    try {
      const s = await poll(c);
      expect(one(s, "snmp.sensor", { index: "11" })).toMatchObject({
        value: 230.1,
        labels: { name: "PSU1 Input", type: "voltsAC" },
      });
      expect(one(s, "snmp.sensor", { index: "12" })).toMatchObject({
        value: 41,
        labels: { name: "CPU Temperature", type: "celsius" },
      });
      expect(one(s, "snmp.sensor", { index: "13" }).value).toBe(5120);
      expect(one(s, "snmp.sensor.status", { index: "13" }).state).toBe("failed");
      expect(one(s, "snmp.sensor.status", { index: "14" }).state).toBe("unknown");
      expect(find(s, "snmp.sensor", { index: "14" })).toEqual([]); // unavailable: no value
      agent.update((st) => {
        st.sensors![0]!.status = 3;
      });
      expect(one(await poll(c), "snmp.sensor.status", { index: "11" }).state).toBe("failed");
    } finally {
      await c.close();
    }
  });

  it("oids: a scalar number, a scalar state, and a vendor table with states and label columns", async () => {
    const { c } = collector(
      spec(agent.port, {
        profiles: [],
        oids: [
          { metric: "snmp.sys.uptime_ticks", oid: "1.3.6.1.2.1.1.3.0" },
          { metric: "snmp.load.text", oid: "1.3.6.1.4.1.2021.10.1.3.1" },
          { metric: "snmp.fan1", oid: "1.3.6.1.4.1.9.9.13.1.4.1.3.1", states: { 1: "ok", 3: "failed" } },
          {
            metric: "snmp.psu",
            table: "1.3.6.1.4.1.9.9.13.1.5.1",
            value: 3,
            label_columns: { descr: 2 },
            labels: { kind: "psu" },
            states: { 1: "ok", 2: "warning", 3: "failed" },
          },
          { metric: "snmp.psu.source", table: "1.3.6.1.4.1.9.9.13.1.5.1", value: 4 },
          { metric: "snmp.nothing", oid: "1.3.6.1.4.1.99999.1.0" },
        ],
      }),
    );
    try {
      const s = await poll(c);
      expect(up(s)).toBe(1);
      expect(one(s, "snmp.sys.uptime_ticks").value).toBeGreaterThan(0);
      expect(one(s, "snmp.load.text").value).toBeGreaterThanOrEqual(0);
      expect(one(s, "snmp.fan1").state).toBe("ok");
      expect(one(s, "snmp.psu", { index: "2" })).toMatchObject({
        state: "ok",
        labels: { descr: "Power Supply 2", kind: "psu", index: "2" },
      });
      expect(one(s, "snmp.psu.source", { index: "1" }).value).toBe(2);
      expect(find(s, "snmp.nothing")).toEqual([]);
      agent.update((st) => {
        st.psu![1]!.state = 6; // notFunctioning: not in this block's map → unknown
        st.psu![0]!.state = 3;
      });
      const s2 = await poll(c);
      expect(one(s2, "snmp.psu", { index: "1" }).state).toBe("failed");
      expect(one(s2, "snmp.psu", { index: "2" }).state).toBe("unknown");
    } finally {
      agent.update((st) => {
        st.psu![0]!.state = 1;
        st.psu![1]!.state = 1;
      });
      await c.close();
    }
  });
});

describe("snmp collector against a UDP server that answers garbage", () => {
  let server: Socket;
  let port = 0;
  beforeAll(async () => {
    server = createSocket("udp4");
    const junk = [
      Buffer.from("not snmp at all"),
      Buffer.from([0x30, 0x82, 0xff, 0xff, 0x02, 0x01]),
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x07]),
      Buffer.alloc(0),
    ];
    let n = 0;
    server.on("message", (_msg, rinfo) => server.send(junk[n++ % junk.length]!, rinfo.port, rinfo.address));
    await new Promise<void>((r) => server.bind(0, "127.0.0.1", r));
    port = server.address().port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("no crash, snmp.up 0, the datagrams counted (snmp.invalid_replies) and logged once", async () => {
    const { c, logged } = collector(spec(port));
    try {
      const s = await poll(c);
      expect(up(s)).toBe(0);
      expect(c.invalidReplies).toBeGreaterThan(0);
      expect(one(s, "snmp.invalid_replies").value).toBe(c.invalidReplies);
      const before = c.invalidReplies;
      expect(up(await poll(c))).toBe(0);
      expect(c.invalidReplies).toBeGreaterThan(before);
      expect(logged.filter((l) => l.msg?.includes("not valid SNMP"))).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it("a poll without a complete answer before its budget is snmp.up 0 within the run's timeout", async () => {
    const { c, logged } = collector(spec(port, { timeout: "1s" }, { timeout: "5s" }));
    try {
      const t0 = Date.now();
      expect(up(await poll(c))).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(
        logged.find((l) => l.level === "warn" && l.msg?.includes("no complete answer within 800 ms")),
      ).toBeDefined();
    } finally {
      await c.close();
    }
  });
});

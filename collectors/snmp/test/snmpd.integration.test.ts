/**
 * The snmp collector against a real snmpd (test/peers/snmpd.ts): the `if` and `cisco-envmon` profiles over v2c
 * and v3 authPriv, values flipped at runtime, the agent stopped and back, wrong community and wrong v3 key,
 * the trap registry's labels. Under CI=true a missing snmpd fails the run instead of skipping.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentsAt } from "../../../src/snmp/registry.js";
import { Snmpd, snmpdMissing, V3, V3_SHA256 } from "../../../test/peers/snmpd.js";
import { collector, one, poll, spec, up, v3Target } from "./helpers.js";

const missing = snmpdMissing();
if (missing !== undefined && process.env.CI === "true") {
  describe("snmp collector against snmpd", () => {
    it("has what it needs", () => {
      throw new Error(`${missing}; under CI=true this test fails rather than skips`);
    });
  });
}

const agent = new Snmpd();

describe.skipIf(missing !== undefined)("snmp collector against snmpd", () => {
  beforeAll(() => agent.start(), 20_000);
  afterAll(() => agent.close());

  it.each([
    ["v2c", {}],
    ["v3 SHA + AES", v3Target()],
    ["v3 SHA-256 + AES", v3Target("sha256", V3_SHA256.auth, V3_SHA256.user)],
  ])("%s: interface and PSU states; a flip at runtime shows in the next poll", async (_, target) => {
    const { c } = collector(spec(agent.port, {}, target));
    try {
      const s = await poll(c);
      expect(up(s)).toBe(1);
      const if1 = one(s, "snmp.if.oper_status", { ifIndex: "1" });
      expect(if1).toMatchObject({
        state: "ok",
        value: 0,
        labels: {
          host: "h",
          collector: "sw",
          target: `127.0.0.1:${agent.port}`,
          ifIndex: "1",
          ifName: "Gi0/1",
          ifDescr: "GigabitEthernet0/1",
          ifAlias: "uplink isp-a",
        },
      });
      expect(one(s, "snmp.if.oper_status", { ifIndex: "3" }).state).toBe("failed");
      expect(one(s, "snmp.if.oper_status", { ifIndex: "3" }).labels.ifAlias).toBeUndefined();
      expect(one(s, "snmp.if.admin_status", { ifIndex: "3" }).value).toBe(2);
      expect(one(s, "snmp.if.in_octets", { ifIndex: "2" }).value).toBe(2000);
      expect(one(s, "snmp.if.speed_mbps", { ifIndex: "1" }).value).toBe(1000);
      expect(one(s, "snmp.psu", { index: "2" })).toMatchObject({
        state: "ok",
        labels: { descr: "Power Supply 2", index: "2" },
      });
      expect(one(s, "snmp.fan", { index: "1" }).state).toBe("ok");
      expect(one(s, "snmp.temperature_c", { descr: "Inlet" }).value).toBe(24);
      expect(one(s, "snmp.temperature", { descr: "Inlet" }).state).toBe("ok");

      agent.update((st) => {
        st.if[0]!.oper = 2;
        st.psu![1]!.state = 3;
        st.if[1]!.in_octets = 2 ** 40; // past 32 bits: the HC counter carries it
      });
      const s2 = await poll(c);
      expect(one(s2, "snmp.if.oper_status", { ifIndex: "1" }).state).toBe("failed");
      expect(one(s2, "snmp.psu", { index: "2" }).state).toBe("failed");
      expect(one(s2, "snmp.if.in_octets", { ifIndex: "2" }).value).toBe(2 ** 40);
      // The same label object for the same series, poll after poll.
      expect(one(s2, "snmp.if.oper_status", { ifIndex: "1" }).labels).toBe(if1.labels);
    } finally {
      agent.update((st) => {
        st.if[0]!.oper = 1;
        st.psu![1]!.state = 1;
        st.if[1]!.in_octets = 2000;
      });
      await c.close();
    }
  });

  it("SNMPv1 (GETNEXT per column): the same interfaces and PSUs", async () => {
    const { c } = collector(spec(agent.port, {}, { version: 1 }));
    try {
      const s = await poll(c);
      expect(up(s)).toBe(1);
      expect(one(s, "snmp.if.oper_status", { ifIndex: "3" }).state).toBe("failed");
      expect(one(s, "snmp.if.oper_status", { ifIndex: "1" }).labels.ifName).toBe("Gi0/1");
      expect(one(s, "snmp.psu", { index: "1" }).state).toBe("ok");
    } finally {
      await c.close();
    }
  });

  it("agent stopped: snmp.up 0 and every component unknown; back: up 1 and the real states (v3 too)", async () => {
    const a = collector(spec(agent.port));
    const b = collector(spec(agent.port, {}, v3Target()));
    try {
      expect(up(await poll(a.c))).toBe(1);
      expect(up(await poll(b.c))).toBe(1);
      await agent.stop();
      for (const { c, logged } of [a, b]) {
        const s = await poll(c);
        expect(up(s)).toBe(0);
        const states = s.filter((x) => x.state !== undefined);
        expect(states.length).toBe(3 + 2 + 1 + 1); // 3 interfaces, 2 PSUs, a fan, a temperature
        expect(states.every((x) => x.state === "unknown" && x.value === -1)).toBe(true);
        expect(s.some((x) => x.metric === "snmp.if.in_octets")).toBe(false);
        const warn = logged.filter((l) => l.level === "warn");
        expect(warn).toHaveLength(1);
        expect(warn[0]!.msg).toContain(`127.0.0.1:${agent.port}: no answer`);
        // Still down: no second line.
        expect(up(await poll(c))).toBe(0);
        expect(logged.filter((l) => l.level === "warn")).toHaveLength(1);
      }
      await agent.start();
      for (const { c, logged } of [a, b]) {
        const s = await poll(c);
        expect(up(s)).toBe(1);
        expect(one(s, "snmp.if.oper_status", { ifIndex: "1" }).state).toBe("ok");
        expect(logged.at(-1)).toMatchObject({ level: "info" });
        expect(logged.at(-1)!.msg).toContain("answers again");
      }
    } finally {
      await a.c.close();
      await b.c.close();
    }
  }, 30_000);

  it("wrong community: up 0, 'no answer (... wrong community)' naming the target, the community never logged", async () => {
    const { c, logged } = collector(spec(agent.port, {}, { community: "s3cret-wrong" }));
    try {
      const s = await poll(c);
      expect(up(s)).toBe(0);
      expect(logged).toHaveLength(1);
      expect(logged[0]!.msg).toBe(
        `127.0.0.1:${agent.port}: no answer (agent down, unreachable, or wrong community): snmp.up 0, its components unknown`,
      );
      expect(JSON.stringify(logged)).not.toContain("s3cret");
    } finally {
      await c.close();
    }
  });

  it("wrong v3 auth key: 'authentication failed' naming the target, no key in the log", async () => {
    const { c, logged } = collector(spec(agent.port, {}, v3Target("sha", "wrong-authpass")));
    try {
      expect(up(await poll(c))).toBe(0);
      expect(logged).toHaveLength(1);
      expect(logged[0]!.msg).toContain(`127.0.0.1:${agent.port}: authentication failed`);
      expect(logged[0]!.obj).toMatchObject({ target: `127.0.0.1:${agent.port}`, collector: "sw" });
      const all = JSON.stringify(logged);
      for (const secret of ["wrong-authpass", V3.priv, V3.auth]) expect(all).not.toContain(secret);
    } finally {
      await c.close();
    }
  });

  it("registers with the trap registry: the poll's own label objects, the index alone before a poll", async () => {
    const { c } = collector(spec(agent.port, { name: "reg" }));
    try {
      const mine = () => agentsAt("127.0.0.1").find((a) => a.collector === "reg")!;
      expect(mine().target).toBe(`127.0.0.1:${agent.port}`);
      expect(mine().labels("snmp.if.oper_status", "2")).toEqual({
        host: "h",
        collector: "reg",
        target: `127.0.0.1:${agent.port}`,
        ifIndex: "2",
      });
      expect(mine().labels("snmp.psu", "1")).toMatchObject({ index: "1" });
      expect(mine().labels("snmp.sensor.status", "1")).toBeUndefined(); // entity-sensor not polled here
      const s = await poll(c);
      expect(mine().labels("snmp.if.oper_status", "2")).toBe(
        one(s, "snmp.if.oper_status", { ifIndex: "2" }).labels,
      );
      expect(mine().labels("snmp.psu", "1")).toBe(one(s, "snmp.psu", { index: "1" }).labels);
      expect(mine().labels("snmp.if.admin_status", "3")).toBe(
        one(s, "snmp.if.admin_status", { ifIndex: "3" }).labels,
      );
    } finally {
      await c.close();
    }
    expect(agentsAt("127.0.0.1").some((a) => a.collector === "reg")).toBe(false);
  });

  it("the if profile reads ifTable and ifXTable in one GETBULK a poll once it knows their size", async () => {
    const { c } = collector(spec(agent.port, { profiles: ["if"] }));
    try {
      await poll(c);
      const r0 = c.io.requests;
      const s = await poll(c);
      expect(s.filter((x) => x.metric === "snmp.if.oper_status")).toHaveLength(3);
      expect(c.io.requests - r0).toBe(1);
    } finally {
      await c.close();
    }
  });

  it("a table that grew between polls is read whole (later rounds ask for max_repetitions again)", async () => {
    const { c } = collector(spec(agent.port, { profiles: ["if"] }));
    try {
      expect(one(await poll(c), "snmp.if.oper_status", { ifIndex: "3" }).state).toBe("failed");
      agent.update((st) => {
        for (let i = 4; i <= 40; i++) st.if.push({ index: i, descr: `Gi0/${i}`, name: `Gi0/${i}` });
      });
      const r0 = c.io.requests;
      const s = await poll(c);
      expect(s.filter((x) => x.metric === "snmp.if.oper_status")).toHaveLength(40);
      expect(c.io.requests - r0).toBeLessThan(12);
    } finally {
      agent.update((st) => {
        st.if = st.if.slice(0, 3);
      });
      await c.close();
    }
  });

  it("never more than max_inflight requests outstanding to the agent", async () => {
    const { c } = collector(
      spec(agent.port, { max_inflight: 2, profiles: ["if", "cisco-envmon", "host-resources", "ucd"] }),
    );
    try {
      expect(up(await poll(c))).toBe(1);
      expect(c.io.limit.peak).toBe(2);
    } finally {
      await c.close();
    }
  });
});

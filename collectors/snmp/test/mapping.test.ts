/**
 * The pure parts of the snmp collector: value → state maps, scaling, speeds, the column-wise table reader (with a
 * fake agent that truncates responses), the in-flight limiter, label objects, error words without secrets.
 */
import { describe, expect, it } from "vitest";
import { labelsOf } from "../../../src/collector.js";
import { snmp, type Varbind } from "../../../src/snmp/session.js";
import { readColumns } from "../../../src/snmp/table.js";
import { AgentIO } from "../agent.js";
import { schema } from "../config.js";
import { describeError, isAgentDown, Limiter } from "../index.js";
import { ENVMON_STATES } from "../profiles/cisco-envmon.js";
import { readValue } from "../profiles/custom.js";
import { SCALE_EXPONENT, SENSOR_STATES, scaleSensor } from "../profiles/entity-sensor.js";
import { DEVICE_STATES, deviceType } from "../profiles/host-resources.js";
import { ifProfile, OPER_STATES, speedMbps } from "../profiles/if.js";
import { stateOf } from "../profiles/types.js";
import { loadOf } from "../profiles/ucd.js";
import { Series } from "../series.js";

describe("state maps", () => {
  it("ifOperStatus", () => {
    const words = [1, 2, 3, 4, 5, 6, 7, 99].map((v) => stateOf(OPER_STATES, v));
    expect(words).toEqual(["ok", "failed", "warning", "unknown", "warning", "absent", "failed", "unknown"]);
  });
  it("CISCO-ENVMON", () => {
    expect([1, 2, 3, 4, 5, 6, 0].map((v) => stateOf(ENVMON_STATES, v))).toEqual([
      "ok",
      "warning",
      "failed",
      "failed",
      "absent",
      "failed",
      "unknown",
    ]);
  });
  it("entity sensor status, hrDeviceStatus", () => {
    expect([1, 2, 3].map((v) => stateOf(SENSOR_STATES, v))).toEqual(["ok", "unknown", "failed"]);
    expect([1, 2, 3, 4, 5].map((v) => stateOf(DEVICE_STATES, v))).toEqual([
      "unknown",
      "ok",
      "warning",
      "warning",
      "failed",
    ]);
    expect(stateOf(DEVICE_STATES, undefined)).toBe("unknown");
  });
  it("hrDeviceType", () => {
    expect(deviceType("1.3.6.1.2.1.25.3.1.3")).toBe("processor");
    expect(deviceType(".1.3.6.1.2.1.25.3.1.6")).toBe("diskStorage");
    expect(deviceType("1.3.6.1.4.1.9.1")).toBe("other");
    expect(deviceType(undefined)).toBe("unknown");
  });
});

describe("numbers", () => {
  it("entity sensor: value × 10^scale ÷ 10^precision, without float noise", () => {
    expect(scaleSensor(2301, 9, 1)).toBe(230.1);
    expect(scaleSensor(12050, 8, 0)).toBe(12.05);
    expect(scaleSensor(512, 10, 2)).toBe(5120);
    expect(scaleSensor(245, 9, 1)).toBe(24.5);
    expect(scaleSensor(7, undefined, undefined)).toBe(7);
    expect(SCALE_EXPONENT[14]).toBe(18); // exa(14), as RFC 3433 numbers it
    expect(SCALE_EXPONENT[15]).toBe(15); // peta(15)
  });
  it("speed: ifHighSpeed, else ifSpeed / 1e6; a sub-Mbit link keeps ifSpeed", () => {
    expect(speedMbps(4294967295, 10000)).toBe(10000);
    expect(speedMbps(1e9, undefined)).toBe(1000);
    expect(speedMbps(64000, 0)).toBe(0.064);
    expect(speedMbps(0, 0)).toBe(0);
    expect(speedMbps(undefined, undefined)).toBeUndefined();
  });
  it("laLoad text and custom values", () => {
    expect(loadOf("0.42")).toBe(0.42);
    expect(loadOf(" 12.00 ")).toBe(12);
    expect(loadOf("n/a")).toBeUndefined();
    const vb = (type: snmp.ObjectType, value: unknown) => ({ oid: "1.1", type, value }) as Varbind;
    expect(readValue(vb(snmp.ObjectType.Integer, 5))).toBe(5);
    expect(readValue(vb(snmp.ObjectType.OctetString, Buffer.from("3.5")))).toBe(3.5);
    expect(readValue(vb(snmp.ObjectType.OctetString, Buffer.from("abc")))).toBeUndefined();
    expect(readValue(vb(snmp.ObjectType.Counter64, Buffer.from([0x01, 0x00, 0x00, 0x00, 0x00, 0x00])))).toBe(
      2 ** 40,
    );
    expect(readValue(vb(snmp.ObjectType.NoSuchObject, null))).toBeUndefined();
    expect(readValue(undefined)).toBeUndefined();
  });
});

/** A fake agent's table: column → rows (index → value); GETBULK answers at most `cap` varbinds. */
function fakeBulk(entry: string, cols: Record<number, Record<string, number>>, cap = Infinity) {
  const all: [string, number][] = [];
  for (const [c, rows] of Object.entries(cols))
    for (const [i, v] of Object.entries(rows)) all.push([`${entry}.${c}.${i}`, v]);
  const key = (o: string) => o.split(".").map(Number);
  const cmp = (a: string, b: string) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  };
  all.sort((a, b) => cmp(a[0], b[0]));
  all.push(["1.3.6.1.9.9.9", 0]); // something after the table
  const calls: string[][] = [];
  const request = async (oids: readonly string[]) => {
    calls.push([...oids]);
    const per = oids.map((o) => {
      const out: Varbind[] = [];
      let cur = o;
      for (let r = 0; r < 4; r++) {
        const next = all.find(([oid]) => cmp(oid, cur) > 0);
        out.push(
          next
            ? { oid: next[0], type: snmp.ObjectType.Integer, value: next[1] }
            : { oid: cur, type: snmp.ObjectType.EndOfMibView, value: null },
        );
        if (!next) break;
        cur = next[0];
      }
      return out;
    });
    // Truncate row-major, as an agent does when the response would be too big.
    let n = 0;
    return per.map((list) => list.filter(() => n++ < cap * oids.length));
  };
  return { request, calls };
}

describe("readColumns", () => {
  const entry = "1.3.6.1.2.1.2.2.1";
  const cols = {
    2: { "1": 21, "2": 22, "3": 23, "4": 24, "5": 25 },
    8: { "1": 81, "2": 82, "3": 83, "4": 84, "5": 85 },
  };
  it("reads every row of the columns asked, several rows per request, and stops at each column's end", async () => {
    const { request, calls } = fakeBulk(entry, cols);
    const t = await readColumns(entry, [2, 8], { request });
    expect([...t.keys()]).toEqual(["1", "2", "3", "4", "5"]);
    expect(t.get("3")!.get(2)!.value).toBe(23);
    expect(t.get("5")!.get(8)!.value).toBe(85);
    expect(calls.length).toBe(2); // 4 repetitions a request, 5 rows
    expect(calls[0]).toEqual([`${entry}.2`, `${entry}.8`]);
    expect(calls[1]).toEqual([`${entry}.2.4`, `${entry}.8.4`]);
  });
  it("a truncated response is continued where each column got to", async () => {
    const { request } = fakeBulk(entry, cols, 1);
    const t = await readColumns(entry, [2, 8], { request });
    expect(t.size).toBe(5);
    expect([...t.values()].every((r) => r.size === 2)).toBe(true);
  });
  it("a column the agent lacks is empty; an empty response ends the walk", async () => {
    const { request } = fakeBulk(entry, cols);
    const t = await readColumns(entry, [2, 30], { request });
    expect([...t.values()].every((r) => r.has(2) && !r.has(30))).toBe(true);
    expect((await readColumns(entry, [2], { request: async () => [] })).size).toBe(0);
  });
});

describe("Limiter", () => {
  it("never runs more than max at once, and runs everything", async () => {
    const l = new Limiter(3);
    let active = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        l.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 1 + (i % 3)));
          active--;
          return i;
        }),
      ),
    );
    expect(done).toHaveLength(20);
    expect(peak).toBe(3);
    expect(l.peak).toBe(3);
  });
  it("a failing task frees its slot", async () => {
    const l = new Limiter(1);
    await expect(l.run(() => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(await l.run(async () => 1)).toBe(1);
  });
});

describe("Series", () => {
  const base = labelsOf({ host: "h", collector: "sw", target: "t:161" });
  it("one label object per series across polls; a new one when a label changes", () => {
    const s = new Series(base, [ifProfile]);
    const a = s.labels("if\u00001", { ifIndex: "1", ifName: "Gi0/1", ifDescr: "x" });
    expect(s.labels("if\u00001", { ifIndex: "1", ifName: "Gi0/1", ifDescr: "x" })).toBe(a);
    const b = s.labels("if\u00001", { ifIndex: "1", ifName: "Gi0/1", ifDescr: "x", ifAlias: "up" });
    expect(b).not.toBe(a);
    expect(Object.isFrozen(b)).toBe(true);
    expect(s.labels("if\u00001", { ifIndex: "1", ifName: "Gi0/1", ifDescr: "x" })).not.toBe(b);
  });
  it("unknown re-sends the last good poll's states; the registry gets its labels, the index alone before", () => {
    const s = new Series(base, [ifProfile]);
    const early = s.labelsFor("snmp.if.oper_status", "7");
    expect(early).toEqual({ ...base, ifIndex: "7" });
    expect(s.labelsFor("snmp.if.oper_status", "7")).toBe(early);
    expect(s.labelsFor("snmp.psu", "1")).toBeUndefined();
    const samples: never[] = [];
    const { out, commit } = s.begin(ifProfile, 5, samples);
    const l = out.labels("7", { ifIndex: "7", ifName: "a", ifDescr: "a" });
    out.state("snmp.if.oper_status", "7", l, "failed");
    out.number("snmp.if.admin_status", l, Number.NaN); // not finite: dropped
    expect(samples).toHaveLength(1);
    expect(s.unknown(ifProfile, 6)).toEqual([]); // not committed yet
    commit();
    expect(s.unknown(ifProfile, 6)).toEqual([
      { metric: "snmp.if.oper_status", labels: l, value: -1, state: "unknown", ts: 6 },
    ]);
    expect(s.labelsFor("snmp.if.oper_status", "7")).toBe(l);
  });
});

describe("errors", () => {
  const err = (name: string, message: string) => Object.assign(new Error(message), { name });
  it("says which kind of failure, never quoting a community", () => {
    expect(describeError(err("RequestTimedOutError", "Request timed out"), "2c")).toBe(
      "no answer (agent down, unreachable, or wrong community)",
    );
    expect(describeError(err("ResponseInvalidError", "Wrong digests"), "3")).toBe(
      "authentication failed (wrong auth key or protocol)",
    );
    const leak = err("ResponseInvalidError", "Community 'public' in request does not match community 'x'");
    expect(describeError(leak, "2c")).not.toContain("public");
    expect(isAgentDown(err("RequestTimedOutError", ""))).toBe(true);
    expect(isAgentDown(err("ResponseInvalidError", "Unknown user name"))).toBe(true);
    expect(isAgentDown(err("RequestFailedError", "genErr"))).toBe(false);
  });
});

describe("schema", () => {
  const base = { name: "sw", type: "snmp", target: { host: "192.0.2.1", community: "c" } };
  it("defaults: 10s, timeout 10s, no profiles, max_inflight 10, max_repetitions 25", () => {
    expect(schema.parse(base)).toMatchObject({
      interval: 10_000,
      timeout: 10_000,
      profiles: [],
      oids: [],
      max_inflight: 10,
      max_repetitions: 25,
      target: { port: 161, version: "2c", retries: 1 },
    });
  });
  it("oids: a leading dot is dropped; states keys are integers", () => {
    const s = schema.parse({
      ...base,
      oids: [{ metric: "x.y", table: ".1.3.6.1.4.1.9.1", value: 3, states: { "3": "failed", "-1": "ok" } }],
    });
    expect(s.oids[0]).toMatchObject({ table: "1.3.6.1.4.1.9.1", states: { "3": "failed", "-1": "ok" } });
  });
});

describe("host name lookups", () => {
  it("a poll that gave up on a hung lookup does not start another; all agents share two lookups at most", async () => {
    let calls = 0;
    let inFlight = 0;
    let peak = 0;
    const hung: (() => void)[] = [];
    const slow = (h: string) =>
      new Promise<string>((resolve) => {
        calls++;
        inFlight++;
        peak = Math.max(peak, inFlight);
        hung.push(() => {
          inFlight--;
          resolve(`192.0.2.${h.length}`);
        });
      });
    const spec = (host: string) =>
      schema.parse({ name: host, type: "snmp", target: { host, community: "c" }, profiles: ["if"] });
    const a = new AgentIO(spec("router-a"), {}, slow);
    // Three polls of one agent while its lookup hangs: one lookup.
    const polls = [a.resolve(), a.resolve(), a.resolve()];
    // Five more agents: at most two lookups at once over all of them.
    const others = ["b1", "b22", "b333", "b4444", "b55555"].map((h) =>
      new AgentIO(spec(h), {}, slow).resolve(),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBe(2);
    while (hung.length > 0) {
      hung.shift()!();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await Promise.all(polls)).toEqual(["192.0.2.8", "192.0.2.8", "192.0.2.8"]);
    expect(await Promise.all(others)).toHaveLength(5);
    expect(calls).toBe(6);
    expect(peak).toBe(2);
  });
});

describe("repetitions after polls that got no answer", () => {
  it("halve the first request's repetitions after each unanswered poll, back to max_repetitions once answered", async () => {
    const asked: number[] = [];
    const fake = {
      getBulk(_oids: string[], _nr: number, rep: number, cb: (e: Error | null, v: Varbind[][]) => void) {
        asked.push(rep);
        cb(
          null,
          _oids.map(() => []),
        ); // every column ends at once
      },
    } as unknown as snmp.Session;
    const spec = schema.parse({
      name: "r",
      type: "snmp",
      target: { host: "192.0.2.1", community: "c" },
      profiles: ["if"],
      max_repetitions: 24,
    });
    const io = new AgentIO(spec);
    // A table of unknown size each time (a known one is asked for its rows + 1).
    let n = 0;
    const read = () =>
      (io as unknown as { readerOn(s: snmp.Session): { table(e: string, c: number[]): Promise<unknown> } })
        .readerOn(fake)
        .table(`1.3.6.1.9.9.${++n}`, [1, 2]);
    await read();
    io.backoff();
    await read();
    io.backoff();
    await read();
    io.answered();
    await read();
    expect(asked).toEqual([24, 12, 6, 24]);
  });
});

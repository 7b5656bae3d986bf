/**
 * snmp_set without an agent: values checked against their types, the read back compared type by type, the
 * agent's errors in words, secrets redacted, and a session that never answers closed at the timeout (a fake
 * session; the real agent is in test/integration/actions-snmp-set.test.ts).
 */
import snmp from "net-snmp";
import { describe, expect, it } from "vitest";
import { checkSnmpValue } from "../../../src/actions/kinds/snmp_set.config.js";
import {
  describe as describeSet,
  describeSetError,
  matches,
  readBackText,
  runSet,
  type SessionOpener,
  type SnmpSetSpec,
} from "../../../src/actions/kinds/snmp_set.js";
import { describeAction } from "../../../src/actions/run.js";
import type { SnmpVarbindSpec } from "../../../src/actions/types.js";
import { actionSchema } from "../../../src/config/schema.js";
import { switchContext } from "../../helpers.js";

const T = snmp.ObjectType;
const target = {
  host: "192.0.2.1",
  port: 161,
  version: "2c" as const,
  community: { kind: "env" as const, name: "RW" },
  retries: 1,
};
const ctx = { ...switchContext, resolveSecret: async () => "s3cret-community" };

function spec(set: SnmpVarbindSpec[], o: Partial<SnmpSetSpec> = {}): SnmpSetSpec {
  return { target, set, verify: true, timeout: 1000, ...o };
}

/** A fake session: `set` and `get` answer with what the test says (or never). */
function fake(o: { set?: () => Promise<snmp.Varbind[]>; get?: (oids: string[]) => Promise<snmp.Varbind[]> }) {
  const calls: string[] = [];
  let closed = false;
  const session = {
    set(vbs: snmp.Varbind[], cb: (e: Error | null, v?: snmp.Varbind[]) => void) {
      calls.push(
        `set ${vbs.map((v) => `${v.oid}=${Buffer.isBuffer(v.value) ? v.value.toString("hex") : v.value}`).join(",")}`,
      );
      (o.set ?? (async () => vbs))().then(
        (v) => cb(null, v),
        (e: Error) => cb(e),
      );
    },
    get(oids: string[], cb: (e: Error | null, v?: snmp.Varbind[]) => void) {
      calls.push(`get ${oids.join(",")}`);
      (o.get ?? (async () => []))(oids).then(
        (v) => cb(null, v),
        (e: Error) => cb(e),
      );
    },
    close() {
      closed = true;
    },
  };
  const open: SessionOpener = async (_t, so) => {
    await so.resolve?.(target.community);
    return session as unknown as snmp.Session;
  };
  return { open, calls, closed: () => closed };
}

function failed(name: string, message: string, status?: number): Error {
  return Object.assign(new Error(message), { name, ...(status !== undefined ? { status } : {}) });
}

describe("checkSnmpValue", () => {
  it.each([
    ["integer", -2147483648, -2147483648],
    ["integer", "7", 7],
    ["gauge", 4294967295, 4294967295],
    ["timeticks", 0, 0],
    ["ipaddress", "192.0.2.1", "192.0.2.1"],
    ["oid", ".1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.5.0"],
    ["string", "uplink b", "uplink b"],
    ["string", 42, "42"],
    ["hex", "00 1A:2b", "001a2b"],
    ["hex", "0x00ff", "00ff"],
  ] as const)("%s %j → %j", (type, value, out) => {
    expect(checkSnmpValue(type, value)).toEqual({ ok: true, value: out });
  });
  it.each([
    ["integer", 2147483648],
    ["integer", 1.5],
    ["unsigned", -1],
    ["counter", 4294967296],
    ["ipaddress", "192.0.2"],
    ["ipaddress", "::1"],
    ["oid", "1"],
    ["string", true],
    ["hex", "abc"],
    ["hex", "zz"],
  ] as const)("%s %j is refused", (type, value) => {
    expect(checkSnmpValue(type, value).ok).toBe(false);
  });
});

describe("the schema", () => {
  it("turns oid/type/value into a list of one, with defaults", () => {
    const a = actionSchema.parse({
      snmp_set: {
        target: { host: "h", community: "c" },
        oid: ".1.3.6.1.2.1.2.2.1.7.2",
        type: "integer",
        value: 2,
      },
    });
    expect(a).toEqual({
      snmp_set: {
        target: {
          host: "h",
          port: 161,
          version: "2c",
          community: { kind: "inline", value: "c" },
          retries: 1,
        },
        set: [{ oid: "1.3.6.1.2.1.2.2.1.7.2", type: "integer", value: 2 }],
        verify: true,
        timeout: 5000,
      },
    });
    expect(describeAction(a)).toBe("snmp_set h:161 1.3.6.1.2.1.2.2.1.7.2 integer 2");
  });
});

describe("read back", () => {
  const vb = (type: snmp.ObjectType, value: unknown) => ({ oid: "1.3", type, value }) as snmp.Varbind;
  it.each([
    [{ oid: "1.3", type: "integer", value: 2 }, vb(T.Integer, 2), true, "2"],
    [{ oid: "1.3", type: "integer", value: 2 }, vb(T.Integer, 1), false, "1"],
    [{ oid: "1.3", type: "gauge", value: 10 }, vb(T.Gauge, 10), true, "10"],
    [{ oid: "1.3", type: "ipaddress", value: "192.0.2.1" }, vb(T.IpAddress, "192.0.2.1"), true, "192.0.2.1"],
    [{ oid: "1.3", type: "oid", value: "1.3.6.1" }, vb(T.OID, "1.3.6.1"), true, "1.3.6.1"],
    [{ oid: "1.3", type: "string", value: "a b" }, vb(T.OctetString, Buffer.from("a b")), true, '"a b"'],
    [{ oid: "1.3", type: "string", value: "é" }, vb(T.OctetString, Buffer.from("é")), true, '"é"'],
    [{ oid: "1.3", type: "string", value: "x" }, vb(T.OctetString, Buffer.from([0, 1])), false, "0x0001"],
    [{ oid: "1.3", type: "hex", value: "0001" }, vb(T.OctetString, Buffer.from([0, 1])), true, "0001"],
    [{ oid: "1.3", type: "integer", value: 2 }, vb(T.NoSuchInstance, null), false, "noSuchInstance"],
  ] as const)("%j read back as %j", (s, v, ok, text) => {
    expect(matches(s as SnmpVarbindSpec, v)).toBe(ok);
    expect(readBackText(s as SnmpVarbindSpec, v)).toBe(text);
  });
});

describe("describeSetError", () => {
  it("names error statuses as RFC 3416 does, with what to check", () => {
    expect(describeSetError(failed("RequestFailedError", "NotWritable: 1.3.6.1.2.1.1.1.0", 17), target)).toBe(
      "the agent refused: notWritable on 1.3.6.1.2.1.1.1.0 (the object is read-only or does not exist)",
    );
    expect(describeSetError(failed("RequestFailedError", "WrongValue: 1.3.6", 10), target)).toBe(
      "the agent refused: wrongValue on 1.3.6 (the agent does not take this value)",
    );
    expect(describeSetError(failed("RequestFailedError", "GeneralError", 5), target)).toBe(
      "the agent refused: genErr",
    );
    expect(describeSetError(failed("RequestTimedOutError", "Request timed out"), target)).toBe(
      "no answer (agent down, unreachable, or wrong community)",
    );
    expect(
      describeSetError(failed("ResponseInvalidError", "Authentication digest mismatch"), { version: "3" }),
    ).toBe("authentication failed (wrong auth key or protocol)");
  });
});

describe("runSet with a fake session", () => {
  const one: SnmpVarbindSpec[] = [{ oid: "1.3.6.1.4.1.9.1", type: "hex", value: "00ff" }];

  it("sends the value as its type, reads it back, closes the session", async () => {
    const f = fake({
      get: async () => [{ oid: "1.3.6.1.4.1.9.1", type: T.OctetString, value: Buffer.from([0, 255]) }],
    });
    const r = await runSet(spec(one), ctx, f.open);
    expect(r).toMatchObject({
      ok: true,
      output: "snmp_set 192.0.2.1:161 1.3.6.1.4.1.9.1 hex 00ff: set; read back 00ff",
    });
    expect(f.calls).toEqual(["set 1.3.6.1.4.1.9.1=00ff", "get 1.3.6.1.4.1.9.1"]);
    expect(f.closed()).toBe(true);
  });

  it("a read back that differs fails; a failed read back says the SET went through", async () => {
    const differs = fake({
      get: async () => [{ oid: "1.3.6.1.4.1.9.1", type: T.OctetString, value: Buffer.from([0]) }],
    });
    expect((await runSet(spec(one), ctx, differs.open)).error).toBe(
      "snmp_set 192.0.2.1:161: set 1.3.6.1.4.1.9.1 to 00ff, read back 00",
    );
    const lost = fake({ get: () => Promise.reject(failed("RequestTimedOutError", "Request timed out")) });
    expect((await runSet(spec(one), ctx, lost.open)).error).toBe(
      "snmp_set 192.0.2.1:161: set 1.3.6.1.4.1.9.1 to 00ff, but reading it back failed: no answer (agent down, unreachable, or wrong community)",
    );
  });

  it("never shows the community, even when an error repeats it", async () => {
    const f = fake({ set: () => Promise.reject(new Error("agent said: bad community s3cret-community")) });
    const r = await runSet(spec(one), ctx, f.open);
    expect(r.error).toBe(
      "snmp_set 192.0.2.1:161: set 1.3.6.1.4.1.9.1 to 00ff: agent said: bad community ***",
    );
    expect(JSON.stringify(r)).not.toContain("s3cret");
  });

  it("a session that never answers is closed at the action's timeout", async () => {
    const f = fake({ set: () => new Promise(() => {}) });
    const r = await runSet(spec(one, { timeout: 150 }), ctx, f.open);
    expect(r.error).toBe("snmp_set 192.0.2.1:161: timed out after 150ms (while setting)");
    expect(r.durationMs).toBeGreaterThanOrEqual(140);
    expect(f.closed()).toBe(true);
  });

  it("describe joins several varbinds", () => {
    expect(
      describeSet(
        spec([
          { oid: "1.3.6.1.2.1.2.2.1.7.1", type: "integer", value: 2 },
          { oid: "1.3.6.1.2.1.1.5.0", type: "string", value: "r1 (backup)" },
        ]),
      ),
    ).toBe('snmp_set 192.0.2.1:161 1.3.6.1.2.1.2.2.1.7.1 integer 2, 1.3.6.1.2.1.1.5.0 string "r1 (backup)"');
  });
});

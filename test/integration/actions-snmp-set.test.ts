/**
 * The snmp_set action against a real snmpd (test/peers/snmpd.ts): it flips an interface's ifAdminStatus through
 * pass_persist and reads it back; a read-only community is refused (snmpd answers noAccess), an unknown one and
 * a dead agent are "no answer", a device that accepts a SET but keeps its value is a failed read back, and the
 * community never appears in a result. Under CI=true a missing snmpd fails the run instead of skipping.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ActionResult, describeAction, runAction } from "../../src/actions/run.js";
import type { ActionSpec } from "../../src/actions/types.js";
import { actionSchema } from "../../src/config/schema.js";
import { switchContext } from "../helpers.js";
import {
  COMMUNITY,
  DEFAULT_STATE,
  freeUdpPort,
  RW_COMMUNITY,
  Snmpd,
  snmpdMissing,
  V3,
} from "../peers/snmpd.js";

const missing = snmpdMissing();
if (missing !== undefined && process.env.CI === "true") {
  describe("snmp_set against snmpd", () => {
    it("has what it needs", () => {
      throw new Error(`${missing}; under CI=true this test fails rather than skips`);
    });
  });
}

const agent = new Snmpd();
const ADMIN = "1.3.6.1.2.1.2.2.1.7";
const ENV = "SB_TEST_SNMP_RW";
const ctx = switchContext;

/** An snmp_set action as the config loader makes it (defaults applied). */
function action(block: Record<string, unknown>, target: Record<string, unknown> = {}): ActionSpec {
  return actionSchema.parse({
    snmp_set: {
      target: { host: "127.0.0.1", port: agent.port, community: { env: ENV }, ...target },
      ...block,
    },
  });
}

const admin = (index: number) => agent.read().if.find((i) => i.index === index)?.admin ?? 1;
const oper = (index: number) => agent.read().if.find((i) => i.index === index)?.oper ?? 1;

function noSecret(r: ActionResult): void {
  expect(JSON.stringify(r)).not.toContain(RW_COMMUNITY);
}

describe.skipIf(missing !== undefined)("snmp_set against snmpd", () => {
  beforeAll(async () => {
    process.env[ENV] = RW_COMMUNITY;
    await agent.start();
  }, 20_000);
  afterAll(async () => {
    delete process.env[ENV];
    await agent.close();
  });
  beforeEach(() => agent.update((s) => (s.if = structuredClone(DEFAULT_STATE.if))));

  it("sets interface 2 admin down, reads it back, and sets it up again", async () => {
    const down = action({ oid: `${ADMIN}.2`, type: "integer", value: 2 });
    expect(describeAction(down)).toBe(`snmp_set 127.0.0.1:${agent.port} ${ADMIN}.2 integer 2`);
    const r = await runAction(down, ctx);
    expect(r).toMatchObject({
      ok: true,
      kind: "snmp_set",
      output: `snmp_set 127.0.0.1:${agent.port} ${ADMIN}.2 integer 2: set; read back 2`,
    });
    expect(r.error).toBeUndefined();
    expect(r.durationMs).toBeLessThan(1000);
    expect([admin(2), oper(2)]).toEqual([2, 2]);
    noSecret(r);

    const up = await runAction(action({ oid: `.${ADMIN}.2`, type: "integer", value: 1 }), ctx);
    expect(up).toMatchObject({ ok: true, output: expect.stringContaining("read back 1") });
    expect([admin(2), oper(2)]).toEqual([1, 1]);
  });

  it("sets several varbinds in one request and reads them all back", async () => {
    const r = await runAction(
      action({
        set: [
          { oid: `${ADMIN}.1`, type: "integer", value: 2 },
          { oid: `${ADMIN}.3`, type: "integer", value: 1 },
        ],
      }),
      ctx,
    );
    expect(r).toMatchObject({ ok: true, output: expect.stringContaining("read back 2, 1") });
    expect([admin(1), admin(3)]).toEqual([2, 1]);
  });

  it("a read-only community: snmpd answers noAccess, and nothing changes", async () => {
    const r = await runAction(
      action({ oid: `${ADMIN}.2`, type: "integer", value: 2 }, { community: COMMUNITY }),
      ctx,
    );
    expect(r.ok).toBe(false);
    expect(r.error).toBe(
      `snmp_set 127.0.0.1:${agent.port}: set ${ADMIN}.2 to 2: the agent refused: noAccess on ${ADMIN}.2 (a read-only community or v3 user? a SET needs write access)`,
    );
    expect(r.durationMs).toBeLessThan(1000);
    expect(admin(2)).toBe(1);
  });

  it("a read-only v3 user (authPriv): noAccess too", async () => {
    process.env.SB_TEST_V3_AUTH = V3.auth;
    process.env.SB_TEST_V3_PRIV = V3.priv;
    try {
      const r = await runAction(
        actionSchema.parse({
          snmp_set: {
            target: {
              host: "127.0.0.1",
              port: agent.port,
              version: 3,
              user: V3.user,
              auth: { protocol: "sha", key: { env: "SB_TEST_V3_AUTH" } },
              priv: { protocol: "aes", key: { env: "SB_TEST_V3_PRIV" } },
            },
            oid: `${ADMIN}.2`,
            type: "integer",
            value: 2,
          },
        }),
        ctx,
      );
      expect(r.error).toContain("the agent refused: noAccess");
      expect(JSON.stringify(r)).not.toContain(V3.auth);
      expect(admin(2)).toBe(1);
    } finally {
      delete process.env.SB_TEST_V3_AUTH;
      delete process.env.SB_TEST_V3_PRIV;
    }
  });

  it("an unknown community: snmpd drops the request, so it is no answer (and the community is not shown)", async () => {
    process.env.SB_TEST_SNMP_WRONG = "wrong-community";
    try {
      const r = await runAction(
        action(
          { oid: `${ADMIN}.2`, type: "integer", value: 2 },
          { community: { env: "SB_TEST_SNMP_WRONG" }, timeout: "300ms", retries: 0 },
        ),
        ctx,
      );
      expect(r.error).toBe(
        `snmp_set 127.0.0.1:${agent.port}: set ${ADMIN}.2 to 2: no answer (agent down, unreachable, or wrong community)`,
      );
      expect(JSON.stringify(r)).not.toContain("wrong-community");
    } finally {
      delete process.env.SB_TEST_SNMP_WRONG;
    }
  });

  it("an object the agent does not let write: notWritable", async () => {
    const r = await runAction(action({ oid: "1.3.6.1.2.1.2.2.1.2.2", type: "string", value: "x" }), ctx);
    expect(r.error).toBe(
      `snmp_set 127.0.0.1:${agent.port}: set 1.3.6.1.2.1.2.2.1.2.2 to "x": the agent refused: notWritable on 1.3.6.1.2.1.2.2.1.2.2 (the object is read-only or does not exist)`,
    );
  });

  it("the agent accepts the SET but keeps its value: the read back fails the action", async () => {
    agent.update((s) => (s.if[2]!.admin_locked = true)); // interface 3 is admin down
    const r = await runAction(action({ oid: `${ADMIN}.3`, type: "integer", value: 1 }), ctx);
    expect(r).toMatchObject({
      ok: false,
      error: `snmp_set 127.0.0.1:${agent.port}: set ${ADMIN}.3 to 1, read back 2`,
      output: `snmp_set 127.0.0.1:${agent.port} ${ADMIN}.3 integer 1: set; read back 2`,
    });
    // verify: false takes the agent's word for it
    const trusting = await runAction(
      action({ oid: `${ADMIN}.3`, type: "integer", value: 1, verify: false }),
      ctx,
    );
    expect(trusting).toMatchObject({ ok: true, output: expect.stringContaining("not read back") });
    expect(admin(3)).toBe(2);
  });

  it("a dead agent fails within the timeout with no answer", async () => {
    const port = await freeUdpPort();
    const r = await runAction(
      actionSchema.parse({
        snmp_set: {
          target: { host: "127.0.0.1", port, community: { env: ENV }, timeout: "300ms", retries: 1 },
          oid: `${ADMIN}.2`,
          type: "integer",
          value: 2,
          timeout: "2s",
        },
      }),
      ctx,
    );
    expect(r.error).toBe(
      `snmp_set 127.0.0.1:${port}: set ${ADMIN}.2 to 2: no answer (agent down, unreachable, or wrong community)`,
    );
    expect(r.durationMs).toBeGreaterThanOrEqual(550);
    expect(r.durationMs).toBeLessThan(2000);

    // The action's timeout is shorter than the SNMP retries: the timeout ends it.
    const short = await runAction(
      actionSchema.parse({
        snmp_set: {
          target: { host: "127.0.0.1", port, community: { env: ENV }, timeout: "1s", retries: 3 },
          oid: `${ADMIN}.2`,
          type: "integer",
          value: 2,
          timeout: "400ms",
        },
      }),
      ctx,
    );
    expect(short.error).toBe(`snmp_set 127.0.0.1:${port}: timed out after 400ms (while setting)`);
    expect(short.durationMs).toBeGreaterThanOrEqual(390);
    expect(short.durationMs).toBeLessThan(900);
  });

  it("cancelled by the context's signal", async () => {
    const port = await freeUdpPort();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await runAction(
      actionSchema.parse({
        snmp_set: {
          target: { host: "127.0.0.1", port, community: { env: ENV }, timeout: "1s" },
          oid: `${ADMIN}.2`,
          type: "integer",
          value: 2,
        },
      }),
      { ...ctx, signal: ac.signal },
    );
    expect(r.error).toBe(`snmp_set 127.0.0.1:${port}: cancelled (while setting)`);
    expect(r.durationMs).toBeLessThan(500);
  });

  it("a dry run sends nothing and says what it would set", async () => {
    const r = await runAction(action({ oid: `${ADMIN}.2`, type: "integer", value: 2 }), {
      ...ctx,
      dryRun: true,
    });
    expect(r).toEqual({
      ok: true,
      kind: "snmp_set",
      output: `would set on 127.0.0.1:${agent.port} (SNMP v2c): ${ADMIN}.2 integer 2, then read it back`,
      durationMs: 0,
      dryRun: true,
    });
    expect(admin(2)).toBe(1);
  });

  it("a secret that cannot be read fails the action, naming its source", async () => {
    const r = await runAction(
      action({ oid: `${ADMIN}.2`, type: "integer", value: 2 }, { community: { env: "SB_TEST_NOT_SET" } }),
      ctx,
    );
    expect(r.error).toBe(
      `snmp_set 127.0.0.1:${agent.port}: environment variable SB_TEST_NOT_SET is not set (secret {env: SB_TEST_NOT_SET})`,
    );
  });
});

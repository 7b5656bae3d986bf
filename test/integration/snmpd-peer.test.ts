/**
 * The SNMP test peer itself (test/peers/snmpd.ts): a private snmpd serving the simulated IF-MIB and
 * CISCO-ENVMON-MIB tables, read with net-snmp over v2c and v3 authPriv, flipped at runtime, written by a SET.
 * Under CI=true a missing snmpd fails the run instead of skipping.
 */
import snmp from "net-snmp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInCiWhenMissing } from "../peers/ci.js";
import { COMMUNITY, RW_COMMUNITY, Snmpd, snmpdMissing, V3, V3_SHA256 } from "../peers/snmpd.js";

const missing = snmpdMissing();
failInCiWhenMissing("snmpd test peer", missing);

const agent = new Snmpd();

function get(session: snmp.Session, oids: string[]): Promise<(string | number)[]> {
  return new Promise((resolve, reject) => {
    session.get(oids, (err, vbs) => {
      if (err) return reject(err);
      resolve(
        (vbs ?? []).map((vb) => (Buffer.isBuffer(vb.value) ? vb.value.toString() : (vb.value as number))),
      );
    });
  });
}

describe.skipIf(missing !== undefined)("snmpd test peer", () => {
  beforeAll(() => agent.start(), 20_000);
  afterAll(() => agent.close());

  it("serves ifTable, ifXTable and ciscoEnvMon over v2c; update() flips a value for the next request", async () => {
    const s = snmp.createSession("127.0.0.1", COMMUNITY, {
      port: agent.port,
      timeout: 1000,
      retries: 0,
      version: snmp.Version2c,
    });
    s.on("error", () => {});
    try {
      expect(
        await get(s, ["1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.31.1.1.1.1.1", "1.3.6.1.4.1.9.9.13.1.5.1.3.2"]),
      ).toEqual([1, "Gi0/1", 1]);
      agent.update((st) => {
        st.if[0]!.oper = 2;
        st.psu![1]!.state = 3;
      });
      expect(await get(s, ["1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.4.1.9.9.13.1.5.1.3.2"])).toEqual([2, 3]);
    } finally {
      s.close();
    }
  });

  it("answers SNMPv3 authPriv users (SHA and SHA-256 with AES)", async () => {
    for (const [u, auth] of [
      [V3, snmp.AuthProtocols.sha],
      [V3_SHA256, snmp.AuthProtocols.sha256],
    ] as const) {
      const s = snmp.createV3Session(
        "127.0.0.1",
        {
          name: u.user,
          level: snmp.SecurityLevel.authPriv,
          authProtocol: auth,
          authKey: u.auth,
          privProtocol: snmp.PrivProtocols.aes,
          privKey: u.priv,
        },
        { port: agent.port, timeout: 1000, retries: 0 },
      );
      s.on("error", () => {});
      try {
        expect(await get(s, ["1.3.6.1.2.1.2.2.1.2.2"])).toEqual(["GigabitEthernet0/2"]);
      } finally {
        s.close();
      }
    }
  });

  it("a SET of ifAdminStatus with the rw community is written to the state (and takes oper down)", async () => {
    const s = snmp.createSession("127.0.0.1", RW_COMMUNITY, {
      port: agent.port,
      timeout: 2000,
      retries: 0,
      version: snmp.Version2c,
    });
    s.on("error", () => {});
    try {
      await new Promise<void>((resolve, reject) =>
        s.set([{ oid: "1.3.6.1.2.1.2.2.1.7.2", type: snmp.ObjectType.Integer, value: 2 }], (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      expect(agent.read().if[1]).toMatchObject({ admin: 2, oper: 2 });
      expect(await get(s, ["1.3.6.1.2.1.2.2.1.7.2"])).toEqual([2]);
    } finally {
      s.close();
    }
  });
});

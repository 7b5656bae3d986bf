/**
 * Real traps and informs for the receiver's tests, sent with net-snmp's command-line tools (`snmptrap`,
 * `snmpinform`, package `snmp`). Asynchronous on purpose: the receiver answers informs (and v3 discovery) on
 * this process's event loop, which a spawnSync would block until the sender timed out.
 */
import { execFile, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";

export const LINK_DOWN = "1.3.6.1.6.3.1.1.5.3";
export const LINK_UP = "1.3.6.1.6.3.1.1.5.4";
export const SUPPLY_NOTIF = "1.3.6.1.4.1.9.9.13.3.0.5";
export const FAN_NOTIF = "1.3.6.1.4.1.9.9.13.3.0.4";
export const ifIndex = (n: number) => [`1.3.6.1.2.1.2.2.1.1.${n}`, "i", String(n)];
export const ifAdmin = (n: number, v: number) => [`1.3.6.1.2.1.2.2.1.7.${n}`, "i", String(v)];
export const ifOper = (n: number, v: number) => [`1.3.6.1.2.1.2.2.1.8.${n}`, "i", String(v)];
export const supplyState = (n: number, v: number) => [`1.3.6.1.4.1.9.9.13.1.5.1.3.${n}`, "i", String(v)];
export const fanState = (n: number, v: number) => [`1.3.6.1.4.1.9.9.13.1.4.1.3.${n}`, "i", String(v)];

export const V3_USER = { user: "monuser", auth: "authpass123", priv: "privpass123" } as const;

/** Why the tools are missing, or undefined. */
export function trapToolsMissing(): string | undefined {
  for (const tool of ["snmptrap", "snmpinform", "snmpget"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (apt-get install snmp; scripts/test-deps.sh)`;
  return undefined;
}

/** Runs a net-snmp tool; resolves with its exit code and stderr (never rejects). */
function run(tool: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: 10_000 }, (err, _out, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

async function must(tool: string, args: string[]): Promise<void> {
  const r = await run(tool, args);
  if (r.code !== 0) throw new Error(`${tool} failed (${r.code}): ${r.stderr}`);
}

/** A v2c trap: `trapV2c(to, "public", LINK_DOWN, [...ifIndex(2)])`. */
export function trapV2c(to: string, community: string, trapOid: string, varbinds: string[] = []) {
  return must("snmptrap", ["-v", "2c", "-c", community, to, "", trapOid, ...varbinds]);
}

/** A v1 trap: generic 0–5 (2 linkDown, 3 linkUp), or 6 with an enterprise and a specific number. */
export function trapV1(
  to: string,
  community: string,
  t: { generic: number; specific?: number; enterprise?: string },
  varbinds: string[] = [],
) {
  const args = ["-v", "1", "-c", community, to, t.enterprise ?? "", "", String(t.generic)];
  return must("snmptrap", [...args, String(t.specific ?? 0), "", ...varbinds]);
}

interface V3 {
  user: string;
  auth: string;
  priv: string;
  /** The sender's engine ID (hex, `0x...`); snmptrap's own when omitted. */
  engineId?: string;
}

const v3Args = (u: V3) => [
  "-v",
  "3",
  "-u",
  u.user,
  "-l",
  "authPriv",
  "-a",
  "SHA",
  "-A",
  u.auth,
  "-x",
  "AES",
  "-X",
  u.priv,
  ...(u.engineId ? ["-e", u.engineId] : []),
];

/** A v3 authPriv (SHA + AES) trap. */
export function trapV3(to: string, u: V3, trapOid: string, varbinds: string[] = []) {
  return must("snmptrap", [...v3Args(u), to, "", trapOid, ...varbinds]);
}

/** An inform (v2c, or v3 with `u`): resolves with snmpinform's exit code — 0 once the receiver acked it. */
export async function inform(
  to: string,
  who: { community: string } | V3,
  trapOid: string,
  varbinds: string[] = [],
  timeoutS = 2,
): Promise<number> {
  const auth = "community" in who ? ["-v", "2c", "-c", who.community] : v3Args(who);
  const args = [...auth, "-r", "0", "-t", String(timeoutS), to, "", trapOid, ...varbinds];
  return (await run("snmpinform", args)).code;
}

/** A GET sent to the trap port (not a trap: the receiver must count it as malformed). */
export async function getTo(to: string, community: string): Promise<void> {
  await run("snmpget", ["-v", "2c", "-c", community, "-r", "0", "-t", "0.3", to, "1.3.6.1.2.1.1.3.0"]);
}

/** Raw datagrams to 127.0.0.1:port (garbage, truncated BER). */
export async function sendRaw(port: number, datagrams: readonly Buffer[]): Promise<void> {
  const s = createSocket("udp4");
  try {
    for (const [i, d] of datagrams.entries()) {
      await new Promise<void>((resolve, reject) =>
        s.send(d, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
      );
      // paced, so that the receiver's socket buffer never overflows (every datagram must arrive)
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    s.close();
  }
}

/** The bytes of one real trap: snmptrap sent to a socket of ours. */
export async function captureTrap(args: (to: string) => Promise<void>): Promise<Buffer> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const got = new Promise<Buffer>((r) => s.once("message", (m) => r(m)));
  await args(`127.0.0.1:${s.address().port}`);
  const m = await got;
  s.close();
  return m;
}

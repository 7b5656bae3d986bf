/**
 * Client CPU per 5-OID GET against a real snmpd (test/peers/snmpd.ts): raw net-snmp (`createSession` /
 * `createV3Session` + `session.get`) against standby's path for the same request — `openSession` + `get`
 * (src/snmp/session.ts) — and the collector itself (`SnmpCollector.collect()` of a block with the same 5 OIDs as
 * `oids:` scalars and no profile: one GET of 5 OIDs a poll, plus its samples, labels and series). CPU is the
 * bench process's own (`process.cpuUsage()`, user + system) over a batch, divided by its requests; the variants
 * run interleaved batch by batch, their order rotated every round, and the median over rounds is reported.
 * v2c and v3 authPriv (SHA + AES); concurrency 1 (one request at a time) and 50 (50 at once on one session; the
 * collector: 50 collectors, a session each, each polling one after another). snmpd's own CPU per request is
 * read from /proc as a cross-check of the recipe (~45–65 µs).
 */
import { readFileSync } from "node:fs";
import { type SnmpCollectorSpec, schema } from "../collectors/snmp/config.js";
import { SnmpCollector } from "../collectors/snmp/index.js";
import { get, openSession, snmp } from "../src/snmp/session.js";
import { snmpTargetSchema } from "../src/snmp/target.js";
import { COMMUNITY, type Snmpd, V3 } from "../test/peers/snmpd.js";
import { cpuNs, descendants } from "./idle.js";
import { r3 } from "./util.js";

/**
 * The 5 OIDs: "system" (default) sysDescr, sysObjectID, sysUpTime, sysContact, sysName — answered by snmpd itself;
 * "if": sysDescr, sysUpTime, ifOperStatus.1–3 — the peer serves ifTable through its pass_persist Python helper,
 * which makes the agent ~5× slower per request (the client's work is the same).
 */
export const GET_OIDS: Record<string, readonly string[]> = {
  system: [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.1.3.0",
    "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0",
  ],
  if: [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.3.0",
    "1.3.6.1.2.1.2.2.1.8.1",
    "1.3.6.1.2.1.2.2.1.8.2",
    "1.3.6.1.2.1.2.2.1.8.3",
  ],
};

export interface GetOptions {
  /** a key of GET_OIDS */
  readonly oids: string;
  readonly requests: number;
  readonly rounds: number;
  readonly concurrency: readonly number[];
}

export interface VariantFigure {
  /** client CPU per request, µs: median over the rounds, and every round's */
  readonly cpuUsPerReq: number;
  readonly rounds: number[];
  /** wall: requests a second (median) */
  readonly reqPerSec: number;
  /** the agent's CPU per request, µs (snmpd and its pass_persist helper), median */
  readonly agentUsPerReq: number;
  readonly errors: number;
  /** standby's CPU over raw net-snmp's in the same rounds, % (median of the per-round ratios) */
  readonly overRawPercent?: number;
}

export type GetResult = Record<string, Record<string, VariantFigure>>;

interface Variant {
  readonly name: string;
  /** sets up what the batch needs, outside the measurement; returns one request and a close */
  open(c: number): Promise<{ workers: (() => Promise<void>)[]; close: () => void }>;
}

const noop = () => {};
const quiet = { debug: noop, info: noop, warn: noop, error: noop };

function variants(agent: Snmpd, version: "2c" | "3", oids: readonly string[]): Variant[] {
  const port = agent.port;
  const target =
    version === "3"
      ? {
          host: "127.0.0.1",
          port,
          version: 3,
          user: V3.user,
          auth: { protocol: "sha", key: V3.auth },
          priv: { protocol: "aes", key: V3.priv },
          timeout: "2s",
          retries: 0,
        }
      : { host: "127.0.0.1", port, community: COMMUNITY, timeout: "2s", retries: 0 };
  const t = snmpTargetSchema.parse(target);
  const rawSession = () => {
    const s =
      version === "3"
        ? snmp.createV3Session(
            "127.0.0.1",
            {
              name: V3.user,
              level: snmp.SecurityLevel.authPriv,
              authProtocol: snmp.AuthProtocols.sha,
              authKey: V3.auth,
              privProtocol: snmp.PrivProtocols.aes,
              privKey: V3.priv,
            },
            { port, version: snmp.Version3, timeout: 2000, retries: 0 } as snmp.SessionOptionsV3,
          )
        : snmp.createSession("127.0.0.1", COMMUNITY, {
            port,
            version: snmp.Version2c,
            timeout: 2000,
            retries: 0,
          });
    s.on("error", noop);
    return s;
  };
  const rawGet = (s: snmp.Session) => () =>
    new Promise<void>((res, rej) => s.get([...oids], (err) => (err ? rej(err) : res())));
  const spec: SnmpCollectorSpec = schema.parse({
    name: "bench",
    type: "snmp",
    interval: "10s",
    target,
    oids: oids.map((oid, i) => ({ metric: `bench.oid${i}`, oid })),
  });
  return [
    {
      name: "raw net-snmp",
      async open(c) {
        const s = rawSession();
        return { workers: Array.from({ length: c }, () => rawGet(s)), close: () => s.close() };
      },
    },
    {
      name: "standby openSession + get",
      async open(c) {
        const s = await openSession(t);
        return {
          workers: Array.from({ length: c }, () => () => get(s, oids).then(noop)),
          close: () => s.close(),
        };
      },
    },
    {
      name: "collector collect() (oids: 5 scalars)",
      async open(c) {
        const cs = Array.from(
          { length: c },
          () => new SnmpCollector(spec, { host: "bench", now: Date.now, log: quiet }),
        );
        return {
          workers: cs.map((col) => async () => {
            const out = await col.collect(new AbortController().signal);
            if (out.find((x) => x.metric === "snmp.up")?.value !== 1) throw new Error("snmp.up 0");
          }),
          close: () => {
            for (const col of cs) void col.close();
          },
        };
      },
    },
  ];
}

function agentPids(): number[] {
  return descendants(process.pid).filter((p) => {
    try {
      return /^(snmpd|python3)$/.test(readFileSync(`/proc/${p}/comm`, "utf8").trim());
    } catch {
      return false;
    }
  });
}

interface Batch {
  cpuUs: number;
  wallMs: number;
  agentUs: number;
  errors: number;
}

async function batch(v: Variant, c: number, requests: number): Promise<Batch> {
  const { workers, close } = await v.open(c);
  let errors = 0;
  const each = Math.ceil(requests / c);
  const run = async (n: number) => {
    await Promise.all(
      workers.map(async (w) => {
        for (let i = 0; i < n; i++) await w().catch(() => errors++);
      }),
    );
  };
  try {
    await run(Math.max(1, Math.ceil(50 / c))); // warm: v3 discovery, first-use costs
    errors = 0;
    const pids = agentPids();
    const a0 = pids.reduce((s, p) => s + (cpuNs(p) ?? 0), 0);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run(each);
    const cu = process.cpuUsage(c0);
    const wallMs = performance.now() - t0;
    const a1 = pids.reduce((s, p) => s + (cpuNs(p) ?? 0), 0);
    const n = each * c;
    return { cpuUs: (cu.user + cu.system) / n, wallMs: wallMs / n, agentUs: (a1 - a0) / 1000 / n, errors };
  } finally {
    close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function benchGet(agent: Snmpd, o: GetOptions, log: (l: string) => void): Promise<GetResult> {
  const out: GetResult = {};
  for (const version of ["2c", "3"] as const) {
    const oids = GET_OIDS[o.oids];
    if (!oids)
      throw new Error(`BENCH_SNMP_OIDS: ${o.oids}? expected one of ${Object.keys(GET_OIDS).join(", ")}`);
    const vs = variants(agent, version, oids);
    for (const c of o.concurrency) {
      const key = `v${version} c${c}`;
      const per = vs.map(() => [] as Batch[]);
      for (let r = 0; r < o.rounds; r++)
        for (let k = 0; k < vs.length; k++) {
          const i = (k + r) % vs.length;
          per[i]!.push(await batch(vs[i]!, c, o.requests));
        }
      const raw = per[0]!.map((b) => b.cpuUs);
      out[key] = {};
      for (const [i, v] of vs.entries()) {
        const bs = per[i]!;
        const cpu = bs.map((b) => b.cpuUs);
        out[key][v.name] = {
          cpuUsPerReq: r3(median(cpu)),
          rounds: cpu.map((x) => Math.round(x * 10) / 10),
          reqPerSec: Math.round(1000 / median(bs.map((b) => b.wallMs))),
          agentUsPerReq: Math.round(median(bs.map((b) => b.agentUs)) * 10) / 10,
          errors: bs.reduce((s, b) => s + b.errors, 0),
          ...(i > 0 ? { overRawPercent: r3(median(cpu.map((x, k) => (x / raw[k]! - 1) * 100))) } : {}),
        };
        const f = out[key][v.name]!;
        log(
          `snmp get ${key} ${v.name.padEnd(38)} ${f.cpuUsPerReq.toFixed(1).padStart(6)} µs CPU/req${f.overRawPercent !== undefined ? ` (${f.overRawPercent >= 0 ? "+" : ""}${f.overRawPercent.toFixed(1)} % vs raw)` : ""}; rounds ${f.rounds.join(" ")}; ${f.reqPerSec} req/s; agent ${f.agentUsPerReq} µs/req; errors ${f.errors}`,
        );
      }
    }
  }
  return out;
}

/**
 * The SNMP benchmark (issue 9: "client CPU per 5-OID GET against snmpd (target: within 20 % of raw net-snmp),
 * trap → switch latency, and the CPU and RSS of polling 1,000 simulated targets every 10 s with the `if` profile
 * (target ≤ 5 % of a core and ≤ 120 MB RSS for the whole daemon)"): bench/snmp-get.ts, bench/snmp-trap.ts (both
 * against a private snmpd, test/peers/snmpd.ts) and bench/snmp-fleet.ts (snmpsimd, bench/snmp-sim.ts). Says
 * "skipped: ..." without snmpd or snmpsimd. Settings from the environment: BENCH_SNMP_REQUESTS (per variant and
 * round, 2000), BENCH_SNMP_ROUNDS (5), BENCH_SNMP_CONCURRENCY ("1,50"), BENCH_SNMP_OIDS ("system" or "if": which 5 OIDs), BENCH_SNMP_TRIALS (20),
 * BENCH_SNMP_TARGETS (1000), BENCH_SNMP_INTERVAL_MS (10000), BENCH_SNMP_WARMUP_MS (25000),
 * BENCH_SNMP_WINDOW_MS (20000), BENCH_SNMP_WINDOWS (5), BENCH_SNMP_SIM_PROCS (2), BENCH_SNMP_INTERFACES (4), BENCH_SNMP_MAX_REPETITIONS (6: the blocks' max_repetitions),
 * BENCH_SNMP_RULES ("bench", "none" or a rules file), BENCH_SNMP_CPU_PROF=1 (profile the fleet's daemon),
 * BENCH_SNMP_SKIP_GET, BENCH_SNMP_SKIP_TRAP, BENCH_SNMP_SKIP_FLEET.
 */
import { assertBuilt } from "../test/e2e/daemon-harness.js";
import { Snmpd, snmpdMissing } from "../test/peers/snmpd.js";
import { benchSnmpFleet, type SnmpFleetResult } from "./snmp-fleet.js";
import { benchGet, type GetResult } from "./snmp-get.js";
import { snmpsimMissing } from "./snmp-sim.js";
import { benchTrap, type TrapResult } from "./snmp-trap.js";

const env = (name: string, def: number) => Number(process.env[name] ?? def);

export interface SnmpBenchResult {
  readonly get: GetResult | string;
  readonly trap: TrapResult | string;
  readonly fleet: SnmpFleetResult | string;
}

/** The daemon benchmarks need dist/: "skipped: ..." when it is not built. */
async function needsBuild<T>(f: () => Promise<T>): Promise<T | string> {
  try {
    assertBuilt();
  } catch (err) {
    return `skipped: ${(err as Error).message}`;
  }
  return f();
}

export async function benchSnmp(log: (l: string) => void): Promise<SnmpBenchResult | string> {
  const missing = snmpdMissing();
  if (missing !== undefined) return `skipped: ${missing}`;
  let get: GetResult | string = "skipped: BENCH_SNMP_SKIP_GET is set";
  let trap: TrapResult | string = "skipped: BENCH_SNMP_SKIP_TRAP is set";
  const agent = new Snmpd();
  try {
    await agent.start();
    if (!process.env.BENCH_SNMP_SKIP_GET)
      get = await benchGet(
        agent,
        {
          oids: process.env.BENCH_SNMP_OIDS ?? "system",
          requests: env("BENCH_SNMP_REQUESTS", 2000),
          rounds: env("BENCH_SNMP_ROUNDS", 5),
          concurrency: (process.env.BENCH_SNMP_CONCURRENCY ?? "1,50").split(",").map(Number),
        },
        log,
      );
    if (!process.env.BENCH_SNMP_SKIP_TRAP)
      trap = await needsBuild(() => benchTrap(agent, env("BENCH_SNMP_TRIALS", 20), log));
  } finally {
    await agent.close();
  }
  let fleet: SnmpFleetResult | string = "skipped: BENCH_SNMP_SKIP_FLEET is set";
  const simMissing = snmpsimMissing();
  if (process.env.BENCH_SNMP_SKIP_FLEET) {
    // as set
  } else if (simMissing !== undefined) fleet = `skipped: ${simMissing}`;
  else
    fleet = await needsBuild(() =>
      benchSnmpFleet(
        {
          targets: env("BENCH_SNMP_TARGETS", 1000),
          intervalMs: env("BENCH_SNMP_INTERVAL_MS", 10_000),
          warmupMs: env("BENCH_SNMP_WARMUP_MS", 25_000),
          windowMs: env("BENCH_SNMP_WINDOW_MS", 20_000),
          windows: env("BENCH_SNMP_WINDOWS", 5),
          simProcs: env("BENCH_SNMP_SIM_PROCS", 2),
          interfaces: env("BENCH_SNMP_INTERFACES", 4),
          maxRepetitions: env("BENCH_SNMP_MAX_REPETITIONS", 6),
          rules: process.env.BENCH_SNMP_RULES ?? "bench",
          cpuProf: !!process.env.BENCH_SNMP_CPU_PROF,
        },
        log,
      ),
    );
  for (const [k, v] of Object.entries({ trap, fleet })) if (typeof v === "string") log(`snmp ${k} ${v}`);
  return { get, trap, fleet };
}

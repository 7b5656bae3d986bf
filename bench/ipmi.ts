/**
 * The ipmi collector's benchmark (issue: "one BMC poll against the sim, target ≤ 120 ms wall — ipmi_exporter
 * takes ~105 ms —, and 100 simulated BMCs polled every 10 s by one daemon without overlap: CPU and RSS"):
 * bench/ipmi-poll.ts measures one poll, bench/ipmi-fleet.ts the daemon with N BMCs. Needs OpenIPMI's ipmi_sim
 * and ipmitool; `npm run bench` says "skipped: ..." without them. Settings from the environment:
 * BENCH_IPMI_POLLS (warm rounds, 30), BENCH_IPMI_COLD (cold polls, 5), BENCH_IPMI_BMCS (100),
 * BENCH_IPMI_INTERVAL_MS (10000), BENCH_IPMI_WARMUP_MS (20000), BENCH_IPMI_WINDOW_MS (20000),
 * BENCH_IPMI_WINDOWS (5), BENCH_IPMI_SAMPLE_MS (50: the process-table sampler), BENCH_IPMI_RULES (the
 * daemon's rules file, default rules/psu.yaml; "none": no rules), BENCH_IPMI_SKIP_FLEET.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { IpmiSim, simMissing } from "../collectors/ipmi/test/sim.js";
import { assertBuilt } from "../test/e2e/daemon-harness.js";
import { benchFleet, type FleetResult } from "./ipmi-fleet.js";
import { benchOnePoll, type OnePollResult } from "./ipmi-poll.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..").replace(/\/dist$/, "");
const env = (name: string, def: number) => Number(process.env[name] ?? def);

export interface IpmiBenchResult {
  readonly onePoll: OnePollResult;
  readonly fleet: FleetResult | string;
}

export async function benchIpmi(log: (l: string) => void): Promise<IpmiBenchResult | string> {
  const missing = simMissing();
  if (missing !== undefined) return `skipped: ${missing}`;
  const sim = new IpmiSim();
  let onePoll: OnePollResult;
  try {
    await sim.start();
    onePoll = await benchOnePoll(
      sim,
      { polls: env("BENCH_IPMI_POLLS", 30), cold: env("BENCH_IPMI_COLD", 5) },
      log,
    );
  } finally {
    await sim.close();
  }
  let fleet: FleetResult | string;
  if (process.env.BENCH_IPMI_SKIP_FLEET) fleet = "skipped: BENCH_IPMI_SKIP_FLEET is set";
  else {
    try {
      assertBuilt();
      fleet = await benchFleet(
        {
          bmcs: env("BENCH_IPMI_BMCS", 100),
          intervalMs: env("BENCH_IPMI_INTERVAL_MS", 10_000),
          warmupMs: env("BENCH_IPMI_WARMUP_MS", 20_000),
          windowMs: env("BENCH_IPMI_WINDOW_MS", 20_000),
          windows: env("BENCH_IPMI_WINDOWS", 5),
          sampleMs: env("BENCH_IPMI_SAMPLE_MS", 50),
          rules: process.env.BENCH_IPMI_RULES ?? join(ROOT, "rules", "psu.yaml"),
        },
        log,
      );
    } catch (err) {
      if (!/npm run build/.test((err as Error).message)) throw err;
      fleet = `skipped: ${(err as Error).message}`;
    }
  }
  if (typeof fleet === "string") log(`ipmi fleet ${fleet}`);
  return { onePoll, fleet };
}

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { benchCluster } from "./cluster.js";
import { benchEngine, type EngineBenchResult } from "./engine.js";
import { benchFailover } from "./failover.js";
import { benchFleetDaemon } from "./fleet-daemon.js";
import { benchInflux } from "./influx.js";
import { benchIpmi } from "./ipmi.js";
import { benchSnmp } from "./snmp.js";

/**
 * `node dist/bench/run.js [NAME...]` runs only the named benchmarks (engine, failover, ipmi, snmp, influx, cluster,
 * fleet-daemon); without names every one, less those skipped by their BENCH_SKIP_* variable.
 */
const ONLY = process.argv.slice(2);
function skipped(name: string, envVar: string): string | undefined {
  if (process.env[envVar]) return `skipped: ${envVar} is set`;
  if (ONLY.length > 0 && !ONLY.includes(name)) return `skipped: not selected (${ONLY.join(" ")})`;
  return undefined;
}

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const scenarios = [
  { name: "10k instances: 5 metrics × 2 rules × 1000 hosts", metrics: 5, perMetric: 2, series: 1000 },
  { name: "10k instances: 1 metric × 1 rule × 10000 hosts", metrics: 1, perMetric: 1, series: 10_000 },
  { name: "10k instances: 10 metrics × 10 rules × 100 hosts", metrics: 10, perMetric: 10, series: 100 },
];

const results: (EngineBenchResult & { rounds: number[]; median: number })[] = [];
for (const sc of skipped("engine", "BENCH_SKIP_ENGINE") ? [] : scenarios) {
  const rounds: EngineBenchResult[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(benchEngine({ ...sc, samples: SAMPLES }));
  const rates = rounds.map((x) => x.samplesPerSec);
  const med = median(rates);
  results.push({
    ...rounds[0]!,
    samplesPerSec: med,
    nsPerSample: Math.round(1e9 / med),
    rounds: rates,
    median: med,
  });
  console.log(
    `engine  ${sc.name.padEnd(52)} ${String(rounds[0]!.instances).padStart(6)} instances  ${(med / 1e6).toFixed(2)} M samples/s (median of ${ROUNDS}; ${Math.round(1e9 / med)} ns/sample; rounds ${rates.map((x) => (x / 1e6).toFixed(2)).join(" ")})`,
  );
}

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const failover = skipped("failover", "BENCH_SKIP_FAILOVER") ?? (await benchFailover(TRIALS, console.log));
if (typeof failover === "string") console.log(`failover benchmark ${failover}`);

const ipmi = skipped("ipmi", "BENCH_SKIP_IPMI") ?? (await benchIpmi(console.log));
if (typeof ipmi === "string") console.log(`ipmi benchmark ${ipmi}`);

const snmp = skipped("snmp", "BENCH_SKIP_SNMP") ?? (await benchSnmp(console.log));
if (typeof snmp === "string") console.log(`snmp benchmark ${snmp}`);

const influx = skipped("influx", "BENCH_SKIP_INFLUX") ?? (await benchInflux(console.log));
if (typeof influx === "string") console.log(`influx benchmark ${influx}`);

const cluster = skipped("cluster", "BENCH_SKIP_CLUSTER") ?? (await benchCluster(console.log));
if (typeof cluster === "string") console.log(`cluster benchmark ${cluster}`);

const fleetDaemon =
  skipped("fleet-daemon", "BENCH_SKIP_FLEET_DAEMON") ?? (await benchFleetDaemon(console.log));
if (typeof fleetDaemon === "string") console.log(`fleet-daemon benchmark ${fleetDaemon}`);

const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  samplesPerRound: SAMPLES,
  engine: results,
  failover,
  ipmi,
  snmp,
  influx,
  cluster,
  fleetDaemon,
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/latest.json", `${JSON.stringify(out, null, 2)}\n`);
console.log("wrote bench/results/latest.json");

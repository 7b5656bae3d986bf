import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { benchCluster } from "./cluster.js";
import { benchEngine, type EngineBenchResult } from "./engine.js";
import { benchFailover } from "./failover.js";
import { benchInflux } from "./influx.js";
import { benchIpmi } from "./ipmi.js";
import { benchSnmp } from "./snmp.js";

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
for (const sc of process.env.BENCH_SKIP_ENGINE ? [] : scenarios) {
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
const failover = process.env.BENCH_SKIP_FAILOVER
  ? "skipped: BENCH_SKIP_FAILOVER is set"
  : await benchFailover(TRIALS, console.log);
if (typeof failover === "string") console.log(`failover benchmark ${failover}`);

const ipmi = process.env.BENCH_SKIP_IPMI ? "skipped: BENCH_SKIP_IPMI is set" : await benchIpmi(console.log);
if (typeof ipmi === "string") console.log(`ipmi benchmark ${ipmi}`);

const snmp = process.env.BENCH_SKIP_SNMP ? "skipped: BENCH_SKIP_SNMP is set" : await benchSnmp(console.log);
if (typeof snmp === "string") console.log(`snmp benchmark ${snmp}`);

const influx = process.env.BENCH_SKIP_INFLUX
  ? "skipped: BENCH_SKIP_INFLUX is set"
  : await benchInflux(console.log);
if (typeof influx === "string") console.log(`influx benchmark ${influx}`);

const cluster = process.env.BENCH_SKIP_CLUSTER
  ? "skipped: BENCH_SKIP_CLUSTER is set"
  : await benchCluster(console.log);
if (typeof cluster === "string") console.log(`cluster benchmark ${cluster}`);

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
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/latest.json", `${JSON.stringify(out, null, 2)}\n`);
console.log("wrote bench/results/latest.json");

/**
 * The real daemon (a process) writing to a real influxd: the documented schema queried back, with a failover
 * event and its reason; and `kill -9` while it spools during an outage: after a restart, every point that had
 * reached the spool on disk is in InfluxDB.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Influxd } from "../peers/influxd.js";
import { influxQuery } from "./influx-query.js";

const missing = Influxd.missing();
failInCiWhenMissing("the daemon writing to influxd", missing);

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function listen(): Promise<Server> {
  const s = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return s;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

function config(
  dir: string,
  url: string,
  db: string,
  a: number,
  b: number,
  sink = "timeout: 1s, flush_interval: 200ms",
): string {
  return `host: itest
state_dir: ${join(dir, "state")}
api: {socket: ""}
rules: [rules.yaml]
collectors:
  - {name: local, type: os, interval: 500ms}
  - {name: gw-a, type: probe, interval: 50ms, timeout: 45ms, probe: {kind: tcp, target: "127.0.0.1:${a}"}}
  - {name: gw-b, type: probe, interval: 50ms, timeout: 45ms, probe: {kind: tcp, target: "127.0.0.1:${b}"}}
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [gw-a-down], activate: [{exec: {argv: [/bin/true]}}]}
      - {name: isp-b, priority: 50, health: [gw-b-down], activate: [{exec: {argv: [/bin/true]}}]}
    failback: {mode: manual}
sinks:
  influx: {url: "${url}", database: ${db}, ${sink}}
`;
}

const RULES = `rules:
  - {name: gw-a-down, metric: probe.success, labels: {collector: gw-a}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"}
  - {name: gw-b-down, metric: probe.success, labels: {collector: gw-b}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"}
`;

class Daemon {
  proc: ChildProcess;
  stderr = "";
  constructor(file: string) {
    this.proc = spawn(process.execPath, [MAIN, "run", "--config", file], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
  }
  async started(): Promise<void> {
    await until(
      () => this.stderr.includes('"standby started"'),
      20_000,
      `the daemon to start: ${this.stderr}`,
    );
  }
  async exited(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise((r) => this.proc.once("exit", r));
  }
}

/** A line of our line protocol: measurement, tags, timestamp (ns). */
function parseLine(line: string): { m: string; tags: Record<string, string>; ns: string } {
  const ns = line.slice(line.lastIndexOf(" ") + 1);
  const head = line.split(/(?<!\\) /)[0]!;
  const [m, ...tags] = head.split(/(?<!\\),/);
  const un = (s: string) => s.replace(/\\([ ,=])/g, "$1");
  return {
    m: un(m!),
    tags: Object.fromEntries(tags.map((t) => t.split(/(?<!\\)=/).map(un) as [string, string])),
    ns,
  };
}

describe.skipIf(missing !== undefined)("the daemon writing to a real influxd", () => {
  let influxd: Influxd;
  let dir: string;
  let a: Server;
  let b: Server;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    assertBuilt();
    influxd = new Influxd();
    await influxd.start();
    dir = mkdtempSync(join(tmpdir(), "sb-influx-daemon-"));
    writeFileSync(join(dir, "rules.yaml"), RULES);
    a = await listen();
    b = await listen();
  }, 30_000);

  afterAll(async () => {
    for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    a?.close();
    b?.close();
    await influxd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("its samples, rule states, group and member states and events are in InfluxDB as documented; a failover's reason is there", async () => {
    const file = join(dir, "schema.yaml");
    writeFileSync(file, config(join(dir, "schema"), influxd.url, "standby", portOf(a), portOf(b)));
    const d = new Daemon(file);
    daemons.push(d);
    await d.started();
    await new Promise((r) => setTimeout(r, 1500));
    // gw-a stops answering: isp-a unhealthy, failover to isp-b.
    const aPort = portOf(a);
    await new Promise((r) => a.close(r));
    // gw-a answers again for the next test, whatever happens in this one.
    onTestFinished(async () => {
      a = createServer((c) => c.end());
      await new Promise<void>((r) => a.listen(aPort, "127.0.0.1", () => r()));
    });
    const q = (s: string) => influxQuery(influxd.url, "standby", s);
    await until(
      async () => (await q(`SELECT "reason" FROM "standby_event" WHERE "kind" = 'failover'`)).length > 0,
      15_000,
      "the failover event in InfluxDB",
    );
    const ev = (await q(`SELECT * FROM "standby_event" WHERE "kind" = 'failover'`))[0]!;
    const row = Object.fromEntries(ev.columns.map((c, i) => [c, ev.values[0]![i]]));
    expect(row).toMatchObject({
      host: "itest",
      group: "uplink",
      from: "isp-a",
      to: "isp-b",
      kind: "failover",
    });
    expect(row.reason).toMatch(/gw-a-down/);
    expect(row.text).toBe("failover uplink: isp-a → isp-b");
    expect(JSON.parse(row.json as string)).toMatchObject({ kind: "failover", group: "uplink", to: "isp-b" });

    await until(
      async () =>
        (await q(`SELECT last("active") FROM "standby_group" WHERE "group" = 'uplink'`))[0]
          ?.values[0]?.[1] === "isp-b",
      10_000,
      "standby_group active isp-b",
    );
    const members = await q(`SELECT last("health") AS "health" FROM "standby_member" GROUP BY "member"`);
    expect(Object.fromEntries(members.map((s) => [s.tags!.member, s.values[0]![1]]))).toEqual({
      "isp-a": "unhealthy",
      "isp-b": "healthy",
    });
    const rule = await q(
      `SELECT "state", "firing", "reason" FROM "standby_rule" WHERE "rule" = 'gw-a-down' AND "state" = 'firing'`,
    );
    expect(rule[0]?.values[0]?.[2]).toBe(1);
    expect(rule[0]?.values[0]?.[3]).toMatch(/^gw-a-down firing/);
    const tags = await q(`SHOW TAG KEYS FROM "probe.success"`);
    expect(tags[0]!.values.flat()).toEqual(expect.arrayContaining(["collector", "host"]));
    const probes = await q(`SELECT count("value") FROM "probe.success" GROUP BY "collector"`);
    expect(probes.map((s) => s.tags!.collector).sort()).toEqual(["gw-a", "gw-b"]);
    const measurements = (await q(`SHOW MEASUREMENTS`))[0]!.values.flat();
    expect(measurements).toEqual(
      expect.arrayContaining(["cpu.load_percent", "mem.used_percent", "probe.rtt_ms"]),
    );
    d.proc.kill("SIGTERM");
    await d.exited();
  }, 60_000);

  it("SIGTERM puts the memory queue on disk; the next start writes it", async () => {
    const file = join(dir, "term.yaml");
    const state = join(dir, "term");
    // Batches that never close by themselves: every point stays in memory until the stop.
    writeFileSync(
      file,
      config(state, influxd.url, "termed", portOf(a), portOf(b), "batch_size: 100000, flush_interval: 1h"),
    );
    const spool = join(state, "state", "spool", "influx");
    const onDisk = () =>
      existsSync(spool)
        ? readdirSync(spool)
            .filter((f) => /^\d+-\w+-\d+\.lp$/.test(f))
            .flatMap((f) => readFileSync(join(spool, f), "utf8").split("\n").filter(Boolean))
        : [];
    const d1 = new Daemon(file);
    daemons.push(d1);
    await d1.started();
    await new Promise((r) => setTimeout(r, 1500));
    expect(onDisk()).toEqual([]);
    d1.proc.kill("SIGTERM");
    await d1.exited();
    const lines = onDisk();
    expect(lines.length).toBeGreaterThan(50);
    expect(lines.some((l) => l.startsWith("probe.success,"))).toBe(true);
    expect(lines.some((l) => l.startsWith("standby_group,"))).toBe(true);

    const d2 = new Daemon(file);
    daemons.push(d2);
    await d2.started();
    // The new start sends the spool first (its own batches stay open: flush_interval 1h).
    await until(() => onDisk().length === 0, 20_000, "the spool to be sent");
    const count = await influxQuery(influxd.url, "termed", `SELECT count("value") FROM "probe.success"`);
    expect(Number(count[0]?.values[0]?.[1])).toBe(lines.filter((l) => l.startsWith("probe.success,")).length);
    d2.proc.kill("SIGKILL");
    await d2.exited();
  }, 60_000);

  it("kill -9 while it spools during an outage: after a restart, every point that had reached the spool on disk is in InfluxDB", async () => {
    const file = join(dir, "kill.yaml");
    const state = join(dir, "kill");
    writeFileSync(file, config(state, influxd.url, "killed", portOf(a), portOf(b)));
    const spool = join(state, "state", "spool", "influx");
    const segments = () =>
      existsSync(spool) ? readdirSync(spool).filter((f) => /^\d+-\w+-\d+\.lp$/.test(f)) : [];
    const d1 = new Daemon(file);
    daemons.push(d1);
    await d1.started();
    await new Promise((r) => setTimeout(r, 1000));
    influxd.pause();
    await until(() => segments().length >= 5, 20_000, "segments in the spool");
    d1.proc.kill("SIGKILL");
    await d1.exited();
    const lines = segments().flatMap((f) => readFileSync(join(spool, f), "utf8").split("\n").filter(Boolean));
    expect(lines.length).toBeGreaterThan(100);
    influxd.resume();

    const d2 = new Daemon(file);
    daemons.push(d2);
    await d2.started();
    await until(() => segments().length === 0, 30_000, "the spool to be sent");
    d2.proc.kill("SIGTERM");
    await d2.exited();

    // Every spooled line: its series (measurement + tags) has a point at its timestamp.
    const byMeasurement = new Map<string, ReturnType<typeof parseLine>[]>();
    for (const l of lines) {
      const p = parseLine(l);
      byMeasurement.set(p.m, [...(byMeasurement.get(p.m) ?? []), p]);
    }
    let found = 0;
    for (const [m, points] of byMeasurement) {
      const keys = await influxQuery(influxd.url, "killed", `SHOW TAG KEYS FROM "${m}"`);
      const tagKeys = (keys[0]?.values ?? []).map((v) => String(v[0]));
      // ns of one length (19 digits): ordered as strings.
      const times = points.map((p) => p.ns).sort();
      const [min, max] = [times[0], times.at(-1)];
      const rows = await influxQuery(
        influxd.url,
        "killed",
        `SELECT * FROM "${m}" WHERE time >= ${min} AND time <= ${max}`,
      );
      const have = new Set<string>();
      for (const s of rows) {
        const ti = s.columns.indexOf("time");
        for (const v of s.values) {
          const t = tagKeys.map((k) => `${k}=${v[s.columns.indexOf(k)] ?? ""}`).join(",");
          have.add(`${String(v[ti])}|${t}`);
        }
      }
      for (const p of points) {
        const t = tagKeys.map((k) => `${k}=${p.tags[k] ?? ""}`).join(",");
        expect(have.has(`${p.ns}|${t}`), `${m} ${JSON.stringify(p.tags)} at ${p.ns}`).toBe(true);
        found++;
      }
    }
    expect(found).toBe(lines.length);
  }, 90_000);
});

/**
 * What the dashboard test queries, written by the real daemon (`node dist/src/cli/main.js run`, a process) into a
 * real influxd — no point written by hand. Two daemons share the database:
 *
 * - `web-01.example` (a dot: Grafana escapes it in `/^$host$/`) runs a collector of every kind the dashboards
 *   show: `os` (this host), two tcp probes at 50 ms (`gw-a`, `gw-b`, to loopback listeners) behind the group
 *   `uplink`, `ipmi` (ipmitool: a script printing HPE's DL360 capture — Power Supply 1 failed, PSU redundancy
 *   lost, fans, temperatures, a power meter), `md` (root: a capture of a raid6 recovering, 19.6 %), `smart`
 *   (smartctl: a script printing a failing ATA disk and a healthy NVMe one) and `snmp` (the snmpd peer, profiles
 *   `if` and `cisco-envmon`). Rules on the probes, the PSUs, the disks and the arrays; groups `uplink` and
 *   `db-vip`. The run closes gw-a's listener (uplink fails over to isp-b; on the agent, port Gi0/1 "uplink
 *   isp-a" goes down and PSU 2 turns critical) and opens it again (failback after a 1 s hold). The os collector
 *   reads this host: nic.* need an interface besides lo, fs.* a local filesystem that is not a pseudo one
 *   (tmpfs, overlay...) — as on any VM.
 * - `edge-02` runs two probes and the group `wan` (a second host for `$host`, `$group` and "All").
 * - Both are one fleet (docs/fleet.md) on a real 3-member etcd (test/peers/etcd.ts, TTL 2 s) with the shared group
 *   `vip`: `vip-1` healthy (a probe to gw-b's listener), `vip-2` unhealthy (a probe to a closed port), so
 *   `votes_unhealthy` of vip-2 is 2. `web-01.example` starts first and leads (`leader_elected`); `edge-02` starts
 *   once it leads. After the failback, web-01.example's etcd lease is revoked (etcdctl): it records
 *   `fleet_unavailable`, `leader_lost` and, with a new lease, `fleet_available`; edge-02 takes the lead
 *   (`leader_elected`) — every kind the "Fleet" annotation shows but `switch_fenced`, in about 1 s.
 *
 * `standby_sink` is written at the daemon's 10 s metrics tick only; "Sink points per second" is a derivative, so
 * the run waits for two ticks (about 20 s after start).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { Etcd } from "../peers/etcd.js";
import { Influxd } from "../peers/influxd.js";
import { COMMUNITY, DEFAULT_STATE, Snmpd } from "../peers/snmpd.js";
import { DB } from "./grafana-queries.js";

export const HOST = "web-01.example";
export const EDGE = "edge-02";
/** The shared group (fleet mode) both hosts run: `HOST` leads it, then `EDGE` (their names in the fleet: `FLEET_NAME`). */
export const SHARED = "vip";
export const FLEET_NAME: Record<string, string> = { [HOST]: "web-01", [EDGE]: "edge-02" };
export const GROUPS: Record<string, string[]> = {
  [HOST]: ["db-vip", "uplink", SHARED],
  [EDGE]: [SHARED, "wan"],
};

// The captures are not copied to dist/: from a compiled copy too, the source tree's.
const COLLECTORS = join(resolve(import.meta.dirname, "../..").replace(/\/dist$/, ""), "collectors");
const IPMI_CAPTURE = join(COLLECTORS, "ipmi/testcases/vendors/hpe-dl360g7-collegeboreal-sdr-elist-full.txt");
const MDSTAT = join(COLLECTORS, "md/testcases/check_raid-recovery.mdstat");
const SMART = join(COLLECTORS, "smart/testcases");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(port = 0): Promise<Server> {
  const s = createServer((c) => c.end());
  await new Promise<void>((r, j) => {
    s.once("error", j);
    s.listen(port, "127.0.0.1", () => r());
  });
  return s;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

/** The daemon as a process, in its own process group (the os collector's `ip monitor` is its child). */
class DaemonProcess {
  readonly proc: ChildProcess;
  stderr = "";
  constructor(
    readonly name: string,
    file: string,
  ) {
    this.proc = spawn(process.execPath, [MAIN, "run", "--config", file], {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    this.proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-200_000);
    });
  }
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
  tail(lines = 15): string {
    return `${this.name}'s stderr:\n${this.stderr.trimEnd().split("\n").slice(-lines).join("\n")}`;
  }
  /** SIGTERM, SIGKILL to its process group 5 s later (or at once, after it exited, for what it left). */
  async stop(): Promise<void> {
    const pid = this.proc.pid;
    if (this.running) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      await Promise.race([exited, sleep(5000)]);
    }
    if (pid !== undefined)
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // the group is gone: nothing left
      }
  }
}

function script(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

const member = (name: string, priority: number, rule: string) =>
  `      - {name: ${name}, priority: ${priority}, health: [${rule}], activate: [{exec: {argv: [/bin/true]}}]}`;
const probe = (name: string, port: number, every: number) =>
  `  - {name: ${name}, type: probe, interval: ${every}ms, timeout: ${every - 5}ms, probe: {kind: tcp, target: "127.0.0.1:${port}"}}`;
const probeRule = (name: string, collector: string) =>
  `  - {name: ${name}, metric: probe.success, labels: {collector: ${collector}}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"}`;

export class DashboardRun {
  readonly dir = mkdtempSync(join(tmpdir(), "sb-grafana-"));
  readonly influxd = new Influxd({ dir: join(this.dir, "influxd") });
  readonly snmpd = new Snmpd();
  readonly etcd = new Etcd({ dir: join(this.dir, "etcd") });
  private readonly daemons: DaemonProcess[] = [];
  private gwA: Server | undefined;
  private gwB: Server | undefined;
  /** What was staged, and when (seconds since start), for the test's output. */
  readonly log: string[] = [];
  private t0 = Date.now();

  private note(what: string): void {
    this.log.push(`${((Date.now() - this.t0) / 1000).toFixed(1)} s ${what}`);
  }

  /** A query's first statement's series (5 s timeout). */
  q = async (query: string) => (await this.influxd.query(query, DB, { timeoutMs: 5000 }))[0]?.series ?? [];

  /** Polls `pred` every 200 ms; throws after `ms` naming `what`, with the daemons' last log lines. */
  private async until(pred: () => Promise<boolean>, ms: number, what: string, why = () => ""): Promise<void> {
    const end = Date.now() + ms;
    while (!(await pred())) {
      const dead = this.daemons.find((d) => !d.running);
      if (dead)
        throw new Error(`${dead.name} exited (${dead.proc.exitCode}) waiting for ${what}\n${dead.tail()}`);
      if (Date.now() > end)
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}${why()}\n${this.daemons.map((d) => d.tail()).join("\n")}`,
        );
      await sleep(200);
    }
    this.note(what);
  }

  private async count(what: string): Promise<number> {
    const s = await this.q(what);
    return Number(s[0]?.values[0]?.[1] ?? 0);
  }

  /**
   * Starts influxd, snmpd and the two daemons; stages the failover and the failback; waits until every
   * measurement in `measurements` has a point of `HOST` and `standby_sink` has points in two 10 s intervals.
   */
  async start(measurements: readonly string[]): Promise<void> {
    assertBuilt();
    this.t0 = Date.now();
    const state = structuredClone(DEFAULT_STATE);
    await Promise.all([this.influxd.start(), this.snmpd.start(state), this.etcd.start()]);
    this.gwA = await listen();
    this.gwB = await listen();
    const [a, b] = [portOf(this.gwA), portOf(this.gwB)];
    // A port nothing listens on: vip-2's probe fails (connection refused).
    const closed = await listen();
    const c = portOf(closed);
    await new Promise((r) => closed.close(r));
    this.note("influxd, snmpd, etcd and the gateways' listeners up");
    const prefix = `/sb-grafana-${process.pid}`;
    const fleet = (host: string) => [
      `  - name: ${SHARED}`,
      "    scope: shared",
      "    members:",
      member("vip-1", 100, "vip-1-down"),
      member("vip-2", 50, "vip-2-down"),
      `cluster: {etcd: [${this.etcd.endpoints.join(", ")}], lease_ttl: 2s, name: ${FLEET_NAME[host]}, prefix: ${prefix}}`,
    ];
    const fleetProbes = [probe("vip-1", b, 100), probe("vip-2", c, 100)];
    const fleetRules = [probeRule("vip-1-down", "vip-1"), probeRule("vip-2-down", "vip-2")];

    const sink = `sinks:\n  influx: {url: "${this.influxd.url}", database: ${DB}, timeout: 2s, flush_interval: 200ms}\n`;
    // web-01.example: every kind of collector.
    const web = join(this.dir, "web");
    mkdirSync(join(web, "md", "proc"), { recursive: true });
    writeFileSync(join(web, "md", "proc", "mdstat"), readFileSync(MDSTAT));
    script(join(web, "fake-ipmitool"), `cat '${IPMI_CAPTURE}'`);
    script(
      join(web, "fake-smartctl"),
      [
        'for a in "$@"; do dev=$a; done',
        'case "$dev" in',
        `  /dev/sda) cat '${SMART}/ata-failing.json'; exit 216 ;;`,
        `  /dev/nvme0) cat '${SMART}/nvme-healthy.json'; exit 0 ;;`,
        "esac",
        "exit 2",
      ].join("\n"),
    );
    writeFileSync(
      join(web, "rules.yaml"),
      [
        "rules:",
        probeRule("gw-a-down", "gw-a"),
        probeRule("gw-b-down", "gw-b"),
        '  - {name: psu-failed, metric: ipmi.sensor, labels: {kind: psu}, problem: "in [failed, absent]"}',
        '  - {name: psu-redundancy-lost, metric: ipmi.sensor, labels: {kind: redundancy, sensor: "Power*"}, problem: "in [failed, warning]"}',
        '  - {name: disk-failing, metric: smart.health, problem: "== failed", severity: warning}',
        '  - {name: md-not-clean, metric: md.array, problem: "in [warning, failed]", severity: warning}',
        '  - {name: switch-port-down, metric: snmp.if.oper_status, labels: {ifName: "Gi0/1"}, problem: "== failed", severity: warning}',
        ...fleetRules,
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(web, "standby.yaml"),
      [
        `host: ${HOST}`,
        `state_dir: ${join(web, "state")}`,
        `api: {socket: ""}`,
        "rules: [rules.yaml]",
        "collectors:",
        "  - {name: local, type: os, interval: 1s}",
        probe("gw-a", a, 50),
        probe("gw-b", b, 50),
        "  - {name: bmc, type: ipmi, interval: 1s, ipmitool: ./fake-ipmitool, sdr_cache: false}",
        "  - {name: raid, type: md, interval: 1s, root: ./md}",
        "  - {name: disks, type: smart, interval: 1s, smartctl: ./fake-smartctl, devices: [/dev/sda, /dev/nvme0]}",
        "  - name: sw",
        "    type: snmp",
        "    interval: 1s",
        `    target: {host: 127.0.0.1, port: ${this.snmpd.port}, community: ${COMMUNITY}, timeout: 400ms, retries: 1}`,
        "    profiles: [if, cisco-envmon]",
        ...fleetProbes,
        "groups:",
        "  - name: uplink",
        "    members:",
        member("isp-a", 100, "gw-a-down"),
        member("isp-b", 50, "gw-b-down"),
        "    failback: {mode: auto, hold: 1s}",
        "  - name: db-vip",
        "    members:",
        member("db-1", 100, "gw-b-down"),
        member("db-2", 50, "gw-b-down"),
        ...fleet(HOST),
        sink,
      ].join("\n"),
    );
    // edge-02: a second host with its own group.
    const edge = join(this.dir, "edge");
    mkdirSync(edge);
    writeFileSync(
      join(edge, "rules.yaml"),
      ["rules:", probeRule("wan-1-down", "wan-1"), probeRule("wan-2-down", "wan-2"), ...fleetRules, ""].join(
        "\n",
      ),
    );
    writeFileSync(
      join(edge, "standby.yaml"),
      [
        `host: ${EDGE}`,
        `state_dir: ${join(edge, "state")}`,
        `api: {socket: ""}`,
        "rules: [rules.yaml]",
        "collectors:",
        probe("wan-1", b, 100),
        probe("wan-2", b, 100),
        ...fleetProbes,
        "groups:",
        "  - name: wan",
        "    members:",
        member("wan-1", 100, "wan-1-down"),
        member("wan-2", 50, "wan-2-down"),
        ...fleet(EDGE),
        sink,
      ].join("\n"),
    );
    // HOST first, and EDGE once HOST leads the shared group: the leader (and its leader_elected) is HOST's.
    this.daemons.push(new DaemonProcess(HOST, join(web, "standby.yaml")));
    const started = Date.now();
    await this.until(
      async () =>
        // "database not found" until the sink created it
        (await this.count(
          `SELECT count("text") FROM "standby_event" WHERE "host" = '${HOST}' AND "kind" = 'leader_elected' AND "group" = '${SHARED}'`,
        ).catch(() => 0)) > 0,
      20_000,
      `${HOST} leads ${SHARED}`,
    );
    this.daemons.push(new DaemonProcess(EDGE, join(edge, "standby.yaml")));
    await this.until(
      async () => this.daemons.every((d) => d.stderr.includes('"standby started"')),
      20_000,
      "both daemons started",
    );

    // Settled: gw-a's rule ok (written as a change from unknown).
    await this.until(
      async () =>
        (await this.count(
          `SELECT count("state") FROM "standby_rule" WHERE "host" = '${HOST}' AND "rule" = 'gw-a-down' AND "state" = 'ok'`,
        )) > 0,
      10_000,
      "gw-a-down ok",
    );

    // gw-a stops answering, and the agent says isp-a's port is down and PSU 2 critical: failover to isp-b.
    await new Promise((r) => this.gwA!.close(r));
    this.snmpd.update((s) => {
      s.if[0]!.oper = 2;
      s.psu![1]!.state = 3;
      for (const i of s.if) i.in_octets = (i.in_octets ?? 0) + 4e6;
    });
    await this.until(
      async () =>
        (await this.count(
          `SELECT count("text") FROM "standby_event" WHERE "kind" = 'failover' AND "group" = 'uplink'`,
        )) > 0,
      10_000,
      "the failover of uplink",
    );
    // gw-a answers again: failback after the 1 s hold.
    this.gwA = await listen(a);
    this.snmpd.update((s) => {
      s.if[0]!.oper = 1;
      for (const i of s.if) i.in_octets = (i.in_octets ?? 0) + 9e6;
      for (const i of s.if) i.out_octets = (i.out_octets ?? 0) + 3e6;
    });
    await this.until(
      async () =>
        (await this.count(
          `SELECT count("text") FROM "standby_event" WHERE "kind" = 'failback' AND "group" = 'uplink'`,
        )) > 0,
      10_000,
      "the failback of uplink",
    );

    // The fleet's leader changes: HOST's lease is revoked in etcd (its keys, the leader key too, go at once), EDGE's
    // waiting candidate key leads (leader_elected), HOST finds its lease gone (fleet_unavailable, leader_lost) and
    // takes a new one (fleet_available; the fleet's own events have no group).
    await this.until(
      async () =>
        this.etcd
          .etcdctl(["get", "--prefix", "--keys-only", `${prefix}/groups/${SHARED}/leader/`])
          .stdout.includes(`/leader/${FLEET_NAME[EDGE]}`),
      10_000,
      `${EDGE} campaigns for ${SHARED}`,
    );
    const inst = this.etcd.etcdctl(["get", `${prefix}/instances/${FLEET_NAME[HOST]}`, "-w", "json"]);
    const lease = inst.stdout.match(/"lease":(\d+)/)?.[1]; // an int64: not through JSON.parse
    if (lease === undefined) throw new Error(`no lease of ${HOST} in etcd: ${inst.stdout} ${inst.stderr}`);
    const revoked = this.etcd.etcdctl(["lease", "revoke", BigInt(lease).toString(16)]);
    if (revoked.status !== 0) throw new Error(`etcdctl lease revoke: ${revoked.stderr}`);
    const fleetEvent = async (host: string, kind: string) =>
      (await this.count(
        `SELECT count("text") FROM "standby_event" WHERE "host" = '${host}' AND "kind" = '${kind}'`,
      )) > 0;
    await this.until(
      async () =>
        (await fleetEvent(HOST, "leader_lost")) &&
        (await fleetEvent(HOST, "fleet_available")) &&
        (await fleetEvent(EDGE, "leader_elected")),
      10_000,
      `${HOST}'s lease revoked: ${EDGE} leads ${SHARED}`,
    );

    // Every measurement the dashboards query, from HOST; standby_sink in two 10 s intervals (two ticks).
    let missing = [...measurements];
    const present = async () => {
      const have = new Set(
        (await this.q(`SHOW MEASUREMENTS WHERE "host" = '${HOST}'`)).flatMap((s) =>
          s.values.map((v) => String(v[0])),
        ),
      );
      missing = measurements.filter((m) => !have.has(m));
      return missing.length === 0;
    };
    const intervals = async (host: string) =>
      (
        await this.q(
          `SELECT count("written") FROM "standby_sink" WHERE "host" = '${host}' AND time > now() - 1h GROUP BY time(10s) fill(none)`,
        )
      )[0]?.values.length ?? 0;
    await this.until(
      async () => (await present()) && (await intervals(HOST)) >= 2 && (await intervals(EDGE)) >= 1,
      40_000 - (Date.now() - started),
      "every measurement the dashboards query, and standby_sink twice",
      () => ` (missing: ${missing.join(", ") || "none"})`,
    );
  }

  /** Stops the daemons (and what they left), the listeners, snmpd, etcd and influxd; removes the directory. */
  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop()));
    this.gwA?.close();
    this.gwB?.close();
    await this.snmpd.close();
    await this.etcd.destroy();
    await this.influxd.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

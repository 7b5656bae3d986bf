/**
 * GET /metrics's text (src/api/prometheus.ts): a status built by hand plus events, and a real in-process daemon's;
 * linted and parsed by promtool (Debian's `prometheus` package, the reference text-format parser), and the series
 * src/api/README.md documents checked by value.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { PromMetrics, standbyVersion } from "../../../src/api/prometheus.js";
import { promInstanceLabels, promLabelName } from "../../../src/api/prometheus-labels.js";
import type { DaemonStatus } from "../../../src/daemon/status.js";
import type { StandbyEvent } from "../../../src/groups/events.js";
import { setup, start, stopAll, switchesFile, tempDir, until } from "../../integration/daemon-harness.js";
import { failInCiWhenMissing } from "../../peers/ci.js";

const T = 1_700_000_000_000;

function status(o: { lan?: boolean; secondInstance?: boolean; snmp?: boolean } = {}): DaemonStatus {
  const { lan = true, secondInstance = true, snmp = true } = o;
  const member = (name: string, health: string) => ({ name, priority: 1, health, reason: "r" });
  return {
    host: "h1",
    started_at: T,
    now: T + 60_000,
    dry_run: false,
    config: "/etc/standby/standby.yaml",
    warnings: [],
    last_reload: { ts: T + 1000, ok: false, message: "typo" },
    groups: [
      {
        name: "uplink",
        active: "isp-b",
        since: T + 30_000,
        failback: "auto",
        hold_ms: 60_000,
        frozen: { at: T + 30_000, reason: "damping" },
        pin: { member: "isp-b", by: "pin" },
        members: [member("isp-a", "unhealthy"), member("isp-b", "healthy")],
      },
      ...(lan
        ? [
            {
              name: "lan",
              active: "bond0",
              since: T,
              failback: "manual",
              hold_ms: 0,
              switching: true,
              members: [member("bond0", "degraded"), member("bond1", "unknown")],
            },
          ]
        : []),
    ],
    rules: [
      {
        rule: "gw-a-down",
        labels: { collector: "gw-a", "if.name": "eth0", rule: "theirs", "1x": "a", __meta: "m", state: "s" },
        state: "firing",
        health: "unhealthy",
        since: T,
        reason: "r",
      },
      ...(secondInstance
        ? [
            {
              rule: "disk",
              labels: { dev: 'sd"a\\b\nc' },
              state: "ok",
              health: "healthy",
              since: T,
              reason: "r",
            },
          ]
        : []),
    ],
    collectors: [
      {
        name: "os",
        kind: "poll",
        stats: {
          runs: 10,
          failures: 0,
          timeouts: 0,
          samples: 420,
          lastRunAt: T + 59_000,
          lastDurationMs: 12,
          lastOk: true,
        },
      },
      ...(snmp
        ? [
            {
              name: "snmp",
              kind: "poll",
              stats: {
                runs: 5,
                failures: 1,
                timeouts: 2,
                samples: 0,
                lastRunAt: T + 58_000,
                lastDurationMs: 2000,
                lastOk: false,
              },
            },
          ]
        : []),
      { name: "traps", kind: "stream", counters: { received: 7, malformed: 2 } },
      {
        name: "starting",
        kind: "poll",
        stats: { runs: 1, failures: 0, timeouts: 0, samples: 0, lastRunAt: T + 59_900 },
      },
    ],
    events: [],
    sinks: {
      influx: {
        url: "http://127.0.0.1:8086",
        database: "standby",
        queue_points: 12,
        spool_points: 300,
        spool_bytes: 4096,
        spool_segments: 2,
        written: 1000,
        retried: 50,
        dropped: 3,
        dead_lettered: 1,
        last_error: "timeout",
        last_error_at: T + 50_000,
        failing: true,
      },
    },
    process: {
      pid: 1,
      rss_bytes: 1,
      heap_used_bytes: 1,
      heap_total_bytes: 1,
      external_bytes: 1,
      cpu_user_ms: 1,
      cpu_system_ms: 1,
    },
  };
}

const base = { ts: T, reason: "r" };
const EVENTS: StandbyEvent[] = [
  { ...base, kind: "failover", group: "uplink", from: "isp-a", to: "isp-b" },
  { ...base, kind: "manual_switch", group: "uplink", from: "isp-b", to: "isp-b" },
  { ...base, kind: "failover", group: "lan", from: "bond1", to: "bond0" },
  { ...base, kind: "switch_failed", group: "uplink", member: "isp-a", to: "isp-a" },
  {
    ...base,
    kind: "action",
    group: "uplink",
    member: "isp-b",
    action: "route",
    phase: "activate",
    ok: true,
    duration_ms: 40,
  },
  {
    ...base,
    kind: "action",
    group: "uplink",
    member: "isp-b",
    action: "route",
    phase: "activate",
    ok: true,
    duration_ms: 700,
  },
  {
    ...base,
    kind: "action",
    group: "uplink",
    member: "isp-a",
    action: "exec",
    phase: "activate",
    ok: false,
    abandoned: true,
    duration_ms: 31_000,
  },
  {
    ...base,
    kind: "action",
    group: "uplink",
    member: "isp-a",
    action: "exec",
    phase: "deactivate",
    ok: false,
    duration_ms: 5,
  },
  {
    ...base,
    kind: "action",
    group: "lan",
    member: "bond0",
    action: "bond",
    phase: "activate",
    ok: true,
    duration_ms: 5,
    dry_run: true,
  },
  { ...base, kind: "rule", rule: "gw-a-down", labels: {}, state: "pending", prev: "ok" },
  { ...base, kind: "rule", rule: "gw-a-down", labels: {}, state: "firing", prev: "pending" },
  { ...base, kind: "collector", collector: "snmp", target: "10.0.0.1", state: "failing" },
  // The same target failing with another reason: not a new failure.
  { ...base, kind: "collector", collector: "snmp", target: "10.0.0.1", state: "failing" },
  { ...base, kind: "collector", collector: "snmp", target: "10.0.0.2", state: "failing" },
  { ...base, kind: "collector", collector: "snmp", target: "10.0.0.2", state: "ok" },
];

/** The samples of a text: `name{sorted labels}` → value (label values unescaped, then written back as JSON). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: [string, string][] = [];
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[2] ?? "").matchAll(re)) {
      labels.push([l[1]!, l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))]);
    }
    labels.sort((a, b) => a[0].localeCompare(b[0]));
    out.set(`${m[1]}${labels.length ? JSON.stringify(Object.fromEntries(labels)) : ""}`, Number(m[3]));
  }
  return out;
}

const key = (name: string, labels?: Record<string, string>) =>
  `${name}${labels ? JSON.stringify(Object.fromEntries(Object.entries(labels).sort((a, b) => a[0].localeCompare(b[0])))) : ""}`;

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

async function rendered(processMetrics = false): Promise<{ m: PromMetrics; text: string }> {
  const m = new PromMetrics({ version: "1.2.3", processMetrics });
  for (const e of EVENTS) m.observe(e);
  return { m, text: await m.render(status()) };
}

describe("PromMetrics", () => {
  it("holds the documented series with their values", async () => {
    const { text } = await rendered();
    const s = samples(text);
    const at = (name: string, labels?: Record<string, string>) => s.get(key(name, labels));
    expect(at("standby_up")).toBe(1);
    expect(at("standby_build_info", { version: "1.2.3" })).toBe(1);
    expect(at("standby_dry_run")).toBe(0);
    expect(at("standby_config_last_reload_successful")).toBe(0);
    // Switches: every kind of every group from 0.
    expect(at("standby_switches_total", { group: "uplink", kind: "failover" })).toBe(1);
    expect(at("standby_switches_total", { group: "uplink", kind: "manual_switch" })).toBe(1);
    expect(at("standby_switches_total", { group: "uplink", kind: "failback" })).toBe(0);
    expect(at("standby_switches_total", { group: "lan", kind: "failover" })).toBe(1);
    expect(at("standby_switch_failures_total", { group: "uplink" })).toBe(1);
    expect(at("standby_switch_failures_total", { group: "lan" })).toBe(0);
    // Action durations (the dry run's action is not counted).
    const route = { group: "uplink", action: "route", phase: "activate", result: "ok" };
    expect(at("standby_action_duration_seconds_count", route)).toBe(2);
    expect(at("standby_action_duration_seconds_sum", route)).toBeCloseTo(0.74);
    expect(at("standby_action_duration_seconds_bucket", { ...route, le: "0.05" })).toBe(1);
    expect(at("standby_action_duration_seconds_bucket", { ...route, le: "1" })).toBe(2);
    const abandoned = { group: "uplink", action: "exec", phase: "activate", result: "abandoned" };
    expect(at("standby_action_duration_seconds_bucket", { ...abandoned, le: "30" })).toBe(0);
    expect(at("standby_action_duration_seconds_bucket", { ...abandoned, le: "60" })).toBe(1);
    expect(
      at("standby_action_duration_seconds_count", { ...abandoned, phase: "deactivate", result: "failed" }),
    ).toBe(1);
    expect(text).not.toContain('action="bond"');
    // Rules.
    expect(at("standby_rule_transitions_total", { rule: "gw-a-down", state: "pending" })).toBe(1);
    expect(at("standby_rule_transitions_total", { rule: "gw-a-down", state: "firing" })).toBe(1);
    const firing = {
      rule: "gw-a-down",
      state: "firing",
      collector: "gw-a",
      if_name: "eth0",
      exported_rule: "theirs",
      exported_state: "s",
      _1x: "a",
      exported___meta: "m",
    };
    expect(at("standby_rule_state", firing)).toBe(1);
    expect(at("standby_rule_state", { rule: "disk", state: "ok", dev: 'sd"a\\b\nc' })).toBe(1);
    expect([...s.keys()].filter((k) => k.startsWith("standby_rule_state{"))).toHaveLength(2);
    // Members and groups.
    expect(at("standby_group_active_member", { group: "uplink", member: "isp-b" })).toBe(1);
    expect(at("standby_group_active_member", { group: "uplink", member: "isp-a" })).toBe(0);
    expect(at("standby_member_healthy", { group: "uplink", member: "isp-b" })).toBe(1);
    expect(at("standby_member_healthy", { group: "lan", member: "bond0" })).toBe(0);
    expect(at("standby_member_health", { group: "uplink", member: "isp-a", health: "unhealthy" })).toBe(1);
    expect(at("standby_member_health", { group: "lan", member: "bond1", health: "unknown" })).toBe(1);
    expect(at("standby_member_health", { group: "lan", member: "bond1", health: "healthy" })).toBeUndefined();
    expect(at("standby_group_frozen", { group: "uplink" })).toBe(1);
    expect(at("standby_group_frozen", { group: "lan" })).toBe(0);
    expect(at("standby_group_pinned", { group: "uplink" })).toBe(1);
    expect(at("standby_group_pinned", { group: "lan" })).toBe(0);
    expect(at("standby_group_switching", { group: "lan" })).toBe(1);
    expect(at("standby_group_active_since_timestamp_seconds", { group: "uplink" })).toBe((T + 30_000) / 1000);
    // Collectors.
    expect(at("standby_collector_up", { collector: "os" })).toBe(1);
    expect(at("standby_collector_up", { collector: "snmp" })).toBe(0);
    expect(at("standby_collector_up", { collector: "starting" })).toBeUndefined();
    expect(at("standby_collector_up", { collector: "traps" })).toBeUndefined();
    expect(at("standby_collector_last_run_timestamp_seconds", { collector: "os" })).toBe((T + 59_000) / 1000);
    expect(at("standby_collector_last_duration_seconds", { collector: "snmp" })).toBe(2);
    expect(at("standby_collector_runs_total", { collector: "os" })).toBe(10);
    expect(at("standby_collector_failures_total", { collector: "snmp" })).toBe(1);
    expect(at("standby_collector_timeouts_total", { collector: "snmp" })).toBe(2);
    expect(at("standby_collector_samples_total", { collector: "os" })).toBe(420);
    expect(at("standby_collector_target_failures_total", { collector: "snmp" })).toBe(2);
    expect(at("standby_collector_target_failures_total", { collector: "os" })).toBe(0);
    expect(at("standby_collector_failing_targets", { collector: "snmp" })).toBe(1);
    expect(at("standby_collector_failing_targets", { collector: "os" })).toBe(0);
    expect(at("standby_collector_stream_events_total", { collector: "traps", event: "malformed" })).toBe(2);
    // The influx sink, under textfile.ts's names.
    const influx = { sink: "influx" };
    expect(at("standby_sink_queue_points", influx)).toBe(12);
    expect(at("standby_sink_spool_points", influx)).toBe(300);
    expect(at("standby_sink_spool_bytes", influx)).toBe(4096);
    expect(at("standby_sink_spool_segments", influx)).toBe(2);
    expect(at("standby_sink_failing", influx)).toBe(1);
    expect(at("standby_sink_written_points_total", influx)).toBe(1000);
    expect(at("standby_sink_retried_points_total", influx)).toBe(50);
    expect(at("standby_sink_dropped_points_total", influx)).toBe(3);
    expect(at("standby_sink_dead_lettered_points_total", influx)).toBe(1);
    expect(at("standby_sink_last_error_timestamp_seconds", influx)).toBe((T + 50_000) / 1000);
    expect(text).toMatch(/^# TYPE standby_sink_written_points_total counter$/m);
  });

  it("drops the series of a removed group, a forgotten rule instance and a removed collector at the next render", async () => {
    const { m, text } = await rendered();
    expect(text).toContain('group="lan"');
    expect(text).toContain('rule="disk"');
    expect(text).toContain('collector="snmp"');
    const after = await m.render(status({ lan: false, secondInstance: false, snmp: false }));
    expect(after).not.toContain('group="lan"');
    expect(after).not.toContain('rule="disk"');
    expect(after).not.toContain('collector="snmp"');
    expect(after).not.toContain('sd\\"a');
    expect(after).toContain('standby_switches_total{group="uplink",kind="failover"} 1');
    // Counters of what stays keep counting; the status counters follow the status.
    m.observe({ ...base, kind: "failover", group: "uplink", from: "isp-a", to: "isp-b" });
    expect(await m.render(status())).toContain('standby_switches_total{group="uplink",kind="failover"} 2');
  });

  it("renders no rule series, group or sink without any", async () => {
    const m = new PromMetrics({ version: "0", processMetrics: false });
    const text = await m.render({ ...status(), groups: [], rules: [], collectors: [], sinks: {} });
    expect(text).not.toMatch(/^standby_(rule_state|sink_|switches|group_|member_)/m);
    expect(text).toMatch(/^standby_up 1$/m);
  });

  it("makes instance label names valid Prometheus label names", () => {
    expect(promLabelName("if.name")).toBe("if_name");
    expect(promLabelName("1x")).toBe("_1x");
    expect(promLabelName("")).toBe("_");
    expect(promLabelName("rule")).toBe("exported_rule");
    expect(promLabelName("state")).toBe("exported_state");
    expect(promLabelName("__name__")).toBe("exported___name__");
    expect(promLabelName("ifDescr")).toBe("ifDescr");
    // Two names that become one: the first in name order stays.
    expect(promInstanceLabels({ if_name: "b", "if.name": "a" })).toEqual({ if_name: "a" });
  });

  it("takes its build version from package.json", () => {
    expect(standbyVersion()).toBe(
      (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version,
    );
  });
});

failInCiWhenMissing(
  "/metrics through promtool",
  hasPromtool ? undefined : "promtool is not installed (Debian's prometheus package: scripts/test-deps.sh)",
);

describe.skipIf(!hasPromtool)("/metrics through promtool check metrics", () => {
  afterEach(stopAll);

  it("passes the parser and the linter, process metrics included", async () => {
    const { text } = await rendered(true);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(promtool(text)).toEqual({ status: 0, output: "" });
  });

  it("catches what it should (a gauge named _total, a unit abbreviation, a broken line)", () => {
    expect(promtool("# HELP x_total h\n# TYPE x_total gauge\nx_total 1\n").status).not.toBe(0);
    expect(promtool("# HELP x_ms h\n# TYPE x_ms gauge\nx_ms 1\n").status).not.toBe(0);
    expect(promtool('x{a="b} 1\n').status).not.toBe(0);
  });

  it("on a real daemon: a failover counted, the active member and the action duration", async () => {
    const dir = tempDir();
    const m = new PromMetrics({ processMetrics: false });
    const { d, a, b } = await start(await setup(dir), { onEvent: (e) => m.observe(e) });
    for (let i = 0; i < 3; i++) {
      a.send(1);
      b.send(1);
    }
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => switchesFile(dir).length === 1);
    await until(() => d.status().groups[0]?.switching !== true);
    const text = await m.render(d.status());
    expect(promtool(text)).toEqual({ status: 0, output: "" });
    const s = samples(text);
    expect(s.get(key("standby_switches_total", { group: "uplink", kind: "failover" }))).toBe(1);
    expect(s.get(key("standby_group_active_member", { group: "uplink", member: "isp-b" }))).toBe(1);
    expect(
      s.get(key("standby_member_health", { group: "uplink", member: "isp-a", health: "unhealthy" })),
    ).toBe(1);
    expect(s.get(key("standby_rule_state", { rule: "gw-a-down", collector: "gw-a", state: "firing" }))).toBe(
      1,
    );
    expect(s.get(key("standby_rule_transitions_total", { rule: "gw-a-down", state: "firing" }))).toBe(1);
    const act = { group: "uplink", action: "exec", phase: "activate", result: "ok" };
    expect(s.get(key("standby_action_duration_seconds_count", act))).toBe(1);
  });
});

/**
 * Fills a database with points shaped exactly as INFLUX-SCHEMA.md says the influx sink writes them — samples of
 * every collector the dashboards show, standby_group, standby_member, standby_event, standby_rule and
 * standby_sink — for the last 50 minutes, every 10 s, with one scripted story per group (a failover, a failback,
 * a failed switch, manual switches, a freeze, a pin). Line protocol with explicit ns timestamps; field types as
 * the schema fixes them (a sample's `value` always a float, counters and flags integers).
 *
 * Kept apart from the dashboard test on purpose: it is to be replaced (or joined) by what the real daemon writes.
 */
import type { Influxd } from "../peers/influxd.js";

export interface FillGroup {
  name: string;
  /** Its members, most preferred first (priorities 100, 50, 10): the first is at first the active one. */
  members: string[];
}

export interface FillOptions {
  host: string;
  groups: FillGroup[];
  /** Default `standby`. */
  db?: string;
  /** The end of the filled span (ms); default now. The span is the 50 minutes before it. */
  now?: number;
}

export interface FillResult {
  db: string;
  points: number;
  /** What was written, for the test to substitute into template variables. */
  host: string;
  groups: string[];
  /** The kinds of standby_event written. */
  eventKinds: string[];
}

type Tags = Record<string, string>;
/** A field: a number is a float, `{i: n}` an integer, a string a string. */
type Field = number | string | { i: number };

const STEP_MS = 10_000;
const SPAN_MS = 50 * 60_000;
const MIN = 60_000;

/** Line protocol escaping: measurement (`,` and space), tag keys/values and field keys (`,` `=` space). */
const escMeasurement = (s: string) => s.replace(/[, ]/g, "\\$&");
const escKey = (s: string) => s.replace(/[,= ]/g, "\\$&");
const escString = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

function fieldText(v: Field): string {
  if (typeof v === "string") return escString(v);
  if (typeof v === "number") return `${v}`; // `1` (no `i`) is a float in line protocol
  return `${Math.trunc(v.i)}i`;
}

/** One line of line protocol; `ns` is the timestamp in ns. Empty tag values are left out (influxd refuses them). */
export function line(measurement: string, tags: Tags, fields: Record<string, Field>, ns: bigint): string {
  const t = Object.keys(tags)
    .sort()
    .filter((k) => tags[k] !== "")
    .map((k) => `,${escKey(k)}=${escKey(tags[k]!)}`)
    .join("");
  const f = Object.entries(fields)
    .map(([k, v]) => `${escKey(k)}=${fieldText(v)}`)
    .join(",");
  return `${escMeasurement(measurement)}${t} ${f} ${ns}`;
}

const COMPONENT: Record<string, number> = { ok: 0, warning: 1, failed: 2, absent: 3, unknown: -1 };
const HEALTH: Record<string, number> = { healthy: 2, degraded: 1, unhealthy: 0, unknown: -1 };

/** Writes the points into `opts.db` (created first) and says what it wrote. */
export async function fillStandbySchema(influxd: Influxd, opts: FillOptions): Promise<FillResult> {
  const db = opts.db ?? "standby";
  const end = opts.now ?? Date.now();
  const start = end - SPAN_MS;
  const host = opts.host;
  const lines: string[] = [];
  const ns = (ms: number, n = 0) => BigInt(Math.round(ms)) * 1_000_000n + BigInt(n);
  const sample = (metric: string, labels: Tags, ms: number, value: number, state?: string) =>
    lines.push(line(metric, { host, ...labels }, state === undefined ? { value } : { value, state }, ns(ms)));
  const comp = (metric: string, labels: Tags, ms: number, state: string) =>
    sample(metric, labels, ms, COMPONENT[state]!, state);
  /** Minutes since the start of the span: the story's clock. */
  const at = (ms: number) => (ms - start) / MIN;
  const within = (ms: number, from: number, to: number) => at(ms) >= from && at(ms) < to;

  // --- collector samples, every 10 s ---------------------------------------------------------------------------
  let octets = 0;
  let nicErrors = 0;
  for (let ms = start; ms <= end; ms += STEP_MS) {
    const i = (ms - start) / STEP_MS;
    const outage = within(ms, 19, 30); // gw-a dead, PSU 2 failed, md0 degraded then rebuilding
    // ipmi
    const bmc = { collector: "bmc", bmc: "10.0.0.5" };
    const bmcDown = within(ms, 10, 12);
    comp("ipmi.sensor", { ...bmc, sensor: "PS1 Status", kind: "psu" }, ms, bmcDown ? "unknown" : "ok");
    comp(
      "ipmi.sensor",
      { ...bmc, sensor: "PS2 Status", kind: "psu" },
      ms,
      bmcDown ? "unknown" : outage ? "failed" : "ok",
    );
    comp(
      "ipmi.sensor",
      { ...bmc, sensor: "PS Redundancy", kind: "redundancy" },
      ms,
      bmcDown ? "unknown" : outage ? "failed" : "ok",
    );
    comp("ipmi.sensor", { ...bmc, sensor: "FAN1", kind: "fan" }, ms, bmcDown ? "unknown" : "ok");
    comp("ipmi.sensor", { ...bmc, sensor: "CPU Temp", kind: "temperature" }, ms, bmcDown ? "unknown" : "ok");
    if (!bmcDown) {
      const r = (sensor: string, kind: string, unit: string, v: number) =>
        sample("ipmi.reading", { ...bmc, sensor, kind, unit }, ms, v);
      r("PS1 Input Power", "power", "Watts", outage ? 240 : 120 + (i % 7));
      r("PS2 Input Power", "power", "Watts", outage ? 0 : 118 + (i % 5));
      r("FAN1", "fan", "RPM", 5400 + (i % 11) * 20);
      r("CPU Temp", "temperature", "degrees C", 48 + (i % 9) * 0.5);
    }
    sample("ipmi.up", bmc, ms, bmcDown ? 0 : 1);
    // snmp: a switch with two supplies and two uplink ports
    const sw = { collector: "sw", target: "192.0.2.1:161" };
    for (const [index, descr] of [
      ["1", "Power Supply 1"],
      ["2", "Power Supply 2"],
    ] as const)
      comp("snmp.psu", { ...sw, index, descr }, ms, index === "2" && within(ms, 40, 44) ? "warning" : "ok");
    comp("snmp.fan", { ...sw, index: "1", descr: "Fan 1" }, ms, "ok");
    octets += 1e6 + (i % 13) * 1e5;
    for (const [ifIndex, ifName, ifAlias] of [
      ["1", "Gi0/1", "uplink isp-a"],
      ["2", "Gi0/2", "uplink isp-b"],
    ] as const) {
      const labels = { ...sw, ifIndex, ifName, ifDescr: `GigabitEthernet0/${ifIndex}`, ifAlias };
      comp("snmp.if.oper_status", labels, ms, ifIndex === "1" && outage ? "failed" : "ok");
      sample("snmp.if.admin_status", labels, ms, 1);
      sample("snmp.if.in_octets", labels, ms, octets * Number(ifIndex));
      sample("snmp.if.out_octets", labels, ms, (octets / 2) * Number(ifIndex));
    }
    sample("snmp.up", sw, ms, 1);
    // md
    const md = { collector: "raid", array: "md0", level: "raid1" };
    const mdState = within(ms, 19, 25) ? "degraded" : within(ms, 25, 30) ? "recovering" : "clean";
    comp("md.array", md, ms, mdState === "degraded" ? "failed" : mdState === "recovering" ? "warning" : "ok");
    for (const s of ["clean", "degraded", "recovering", "resyncing", "checking", "reshaping", "inactive"])
      sample("md.state", { ...md, state: s }, ms, s === mdState ? 1 : 0);
    const active = mdState === "clean" ? 2 : 1;
    for (const [role, n] of [
      ["total", 2],
      ["active", active],
      ["failed", mdState === "degraded" ? 1 : 0],
      ["spare", 0],
    ] as const)
      sample("md.devices", { ...md, role }, ms, n);
    if (mdState === "recovering") sample("md.sync_percent", md, ms, ((at(ms) - 25) / 5) * 100);
    // smart
    for (const [device, temp] of [
      ["/dev/sda", 34],
      ["/dev/sdb", 37],
    ] as const) {
      const disk = { collector: "disks", device, type: "sat", protocol: "ATA" };
      comp("smart.health", disk, ms, device === "/dev/sdb" && within(ms, 19, 25) ? "failed" : "ok");
      sample("smart.temperature_c", disk, ms, temp + (i % 4));
      sample("smart.reallocated_sectors", disk, ms, device === "/dev/sdb" ? 8 : 0);
      sample("smart.pending_sectors", disk, ms, 0);
    }
    // probe: two gateways
    for (const [collector, target] of [
      ["gw-a", "192.0.2.254"],
      ["gw-b", "198.51.100.1"],
    ] as const) {
      const p = { collector, kind: "icmp", target };
      const lost = collector === "gw-a" && outage;
      sample("probe.success", p, ms, lost ? 0 : 1);
      if (!lost) sample("probe.rtt_ms", p, ms, (collector === "gw-a" ? 4 : 9) + (i % 5) * 0.3);
    }
    // os
    const os = { collector: "local" };
    sample("cpu.load_percent", os, ms, 12 + (i % 17));
    sample("mem.used_percent", os, ms, 41 + (i % 5) * 0.2);
    sample("load.1", os, ms, 0.4 + (i % 6) * 0.1);
    sample("load.5", os, ms, 0.5);
    sample("load.15", os, ms, 0.45);
    for (const [mount, device, used] of [
      ["/", "/dev/md0", 37],
      ["/var", "/dev/sdc1", 71],
    ] as const) {
      sample("fs.used_percent", { ...os, mount, device, fstype: "ext4" }, ms, used + i * 0.01);
      sample("fs.free_bytes", { ...os, mount, device, fstype: "ext4" }, ms, (100 - used) * 1e9);
    }
    nicErrors += i % 3;
    for (const device of ["eth0", "eth1"]) {
      sample("nic.link_up", { ...os, device }, ms, device === "eth0" && within(ms, 19, 21) ? 0 : 1);
      sample("nic.speed_mbps", { ...os, device }, ms, 1000);
      for (const direction of ["rx", "tx"]) {
        sample("nic.errors", { ...os, device, direction }, ms, device === "eth0" ? nicErrors : 0);
        sample("nic.drops", { ...os, device, direction }, ms, device === "eth0" ? nicErrors * 2 : 0);
      }
    }
    // the sink's own metrics
    const spooling = within(ms, 33, 36); // InfluxDB was unreachable for 3 minutes
    lines.push(
      line(
        "standby_sink",
        { host, sink: "influx" },
        {
          queue_points: { i: spooling ? 1500 + i : 20 + (i % 9) },
          spool_points: { i: spooling ? 900 + i * 3 : 0 },
          spool_bytes: { i: spooling ? 90_000 + i * 300 : 0 },
          spool_segments: { i: spooling ? 2 : 0 },
          written: { i: i * 180 },
          retried: { i: at(ms) < 33 ? 0 : spooling ? (at(ms) - 33) * 6 : 18 },
          dropped: { i: 0 },
          dead_lettered: { i: 0 },
          last_error: spooling ? "connect ECONNREFUSED 127.0.0.1:8086" : "",
        },
        ns(ms),
      ),
    );
  }

  // --- groups, members, events, rules ----------------------------------------------------------------------------
  const kinds = new Set<string>();
  let seq = 0; // events one ns apart within the same ms
  const event = (
    ms: number,
    kind: string,
    group: string | undefined,
    text: string,
    f: Record<string, Field>,
  ) => {
    kinds.add(kind);
    const json = JSON.stringify({ ts: Math.round(ms), kind, ...(group ? { group } : {}), ...plain(f) });
    lines.push(
      line("standby_event", { host, kind, ...(group ? { group } : {}) }, { text, ...f, json }, ns(ms, seq++)),
    );
  };
  event(start, "state_discarded", undefined, "state_discarded: state.json unusable, set aside", {
    reason: "state.json: unexpected end of JSON input",
  });
  event(start + 10 * MIN, "collector", undefined, "collector bmc 10.0.0.5: failing", {
    reason: "10.0.0.5: exit 1: Error: Unable to establish IPMI v2 / RMCP+ session",
    collector: "bmc",
    target: "10.0.0.5",
    state: "failing",
  });
  event(start + 12 * MIN, "collector", undefined, "collector bmc 10.0.0.5: ok", {
    reason: "10.0.0.5 answers again",
    collector: "bmc",
    target: "10.0.0.5",
    state: "ok",
  });

  opts.groups.forEach((g, gi) => {
    const [a, b] = [g.members[0]!, g.members[1] ?? g.members[0]!];
    const off = gi * 30_000; // each group's story 30 s after the previous one's
    const t = (min: number) => start + min * MIN + off;
    const sw = (min: number, kind: string, from: string, to: string, reason: string) =>
      event(t(min), kind, g.name, `${kind} ${g.name}: ${from} → ${to}`, {
        reason,
        from,
        to,
        rule: "gw-a-down",
      });
    const mem = (
      min: number,
      kind: string,
      member: string,
      reason: string,
      extra: Record<string, Field> = {},
    ) => event(t(min), kind, g.name, `${kind} ${g.name}: ${member}`, { reason, member, ...extra });
    event(t(19.9), "health", g.name, `health ${g.name}/${a}: unhealthy`, {
      reason: "rule gw-a-down firing (probe.success max over 3 samples == 0)",
      member: a,
      state: "unhealthy",
      rule: "gw-a-down",
    });
    sw(20, "failover", a, b, `gw-a-down firing on member ${a}`);
    for (const [member, phase] of [
      [a, "deactivate"],
      [b, "activate"],
    ] as const)
      event(t(20) + 200, "action", g.name, `action ${g.name}/${member} ${phase} route: ok`, {
        reason: `failover to ${b}`,
        member,
        action: "route",
        phase,
        ok: { i: 1 },
        duration_ms: 12.5,
      });
    event(t(20.1), "redundancy_lost", g.name, `redundancy_lost ${g.name}`, {
      reason: "1 of 2 healthy, min_healthy 2",
    });
    event(t(30), "redundancy_restored", g.name, `redundancy_restored ${g.name}`, {
      reason: "2 of 2 healthy",
    });
    sw(35, "failback", b, a, `${a} healthy for hold 5m`);
    mem(38, "switch_failed", b, `activate route on ${b} failed: exit 2`, { to: b });
    mem(38.1, "switch_retry", b, "retry 1 of 3", { to: b });
    sw(42, "manual_switch", a, b, "standby switch by operator");
    sw(43, "manual_switch", b, a, "standby switch by operator");
    mem(45, "frozen", a, "standby freeze by operator");
    mem(46, "unfrozen", a, "standby unfreeze by operator");
    mem(47, "pinned", a, "standby pin by operator");
    mem(48, "unpinned", a, "standby unpin by operator");

    // the rule instance behind the failover: state changes only
    const rule = (min: number, state: string, prev: string, value: number, reason: string) =>
      lines.push(
        line(
          "standby_rule",
          {
            host,
            rule: "gw-a-down",
            severity: "critical",
            collector: "gw-a",
            kind: "icmp",
            target: "192.0.2.254",
          },
          {
            state,
            prev,
            firing: { i: ["firing", "recovering", "flapping"].includes(state) ? 1 : 0 },
            value,
            reason,
          },
          ns(t(min), seq++),
        ),
      );
    if (gi === 0) {
      rule(0, "ok", "unknown", 1, "probe.success max over 3 samples == 1");
      rule(19.5, "pending", "ok", 0, "probe.success max over 3 samples == 0");
      rule(19.9, "firing", "pending", 0, "probe.success max over 3 samples == 0 for 20s");
      rule(30, "recovering", "firing", 1, "probe.success min over 10 samples == 1");
      rule(31, "ok", "recovering", 1, "recovered for 1m");
    }

    // every 10 s and at each event: the group and its members
    const activeAt = (ms: number) => {
      const m = at(ms - off);
      return (m >= 20 && m < 35) || (m >= 42 && m < 43) ? b : a;
    };
    for (let ms = start; ms <= end; ms += STEP_MS) {
      const m = at(ms - off);
      const active = activeAt(ms);
      const aHealth = m >= 19.9 && m < 30 ? "unhealthy" : m >= 30 && m < 32 ? "degraded" : "healthy";
      const healthy = g.members.filter((x) => x !== a || aHealth === "healthy").length;
      lines.push(
        line(
          "standby_group",
          { host, group: g.name },
          {
            active,
            active_priority: { i: [100, 50, 10][g.members.indexOf(active)] ?? 1 },
            members: { i: g.members.length },
            healthy_members: { i: healthy },
            switching: { i: m >= 20 && m < 20.2 ? 1 : 0 },
            frozen: { i: m >= 45 && m < 46 ? 1 : 0 },
            pinned: { i: m >= 47 && m < 48 ? 1 : 0 },
          },
          ns(ms),
        ),
      );
      g.members.forEach((member, pi) => {
        const health = member === a ? aHealth : "healthy";
        lines.push(
          line(
            "standby_member",
            { host, group: g.name, member },
            {
              health,
              health_value: { i: HEALTH[health]! },
              healthy: { i: health === "healthy" ? 1 : 0 },
              active: { i: member === active ? 1 : 0 },
              priority: { i: [100, 50, 10][pi] ?? 1 },
              reason:
                health === "unhealthy" ? "gw-a-down firing" : health === "degraded" ? "gw-a-slow firing" : "",
            },
            ns(ms),
          ),
        );
      });
    }
  });

  await influxd.createDatabase(db);
  for (let k = 0; k < lines.length; k += 5000)
    await influxd.write(db, lines.slice(k, k + 5000).join("\n"), "ns");
  return { db, points: lines.length, host, groups: opts.groups.map((g) => g.name), eventKinds: [...kinds] };
}

/** The fields of an event as the event log has them (for its `json` field). */
function plain(f: Record<string, Field>): Record<string, string | number> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, typeof v === "object" ? v.i : v]));
}

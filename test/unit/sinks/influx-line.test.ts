import { describe, expect, it } from "vitest";
import type { StandbyEvent } from "../../../src/groups/events.js";
import {
  countLines,
  DecisionClock,
  eventLine,
  groupLines,
  ruleLine,
  SampleEncoder,
  sinkLine,
  tagsText,
} from "../../../src/sinks/influx/line.js";
import { decisionGauges } from "../../../src/sinks/textfile.js";

describe("influx line protocol", () => {
  it("a sample: measurement = metric, tags sorted with empty values left out, value (and state), ns timestamp", () => {
    const enc = new SampleEncoder();
    const labels = {
      target: "r1:161",
      collector: "core",
      host: "web-01",
      ifAlias: "",
      ifName: "Gi0/1 uplink",
    };
    expect(
      enc.encode({ ts: 0, metric: "snmp.if.oper_status", labels, value: 2, state: "failed" }, 1764100000123),
    ).toBe(
      'snmp.if.oper_status,collector=core,host=web-01,ifName=Gi0/1\\ uplink,target=r1:161 value=2,state="failed" 1764100000123000000',
    );
    expect(enc.encode({ ts: 0, metric: "probe.rtt_ms", labels, value: 0.25 }, 1764100000000.4)).toMatch(
      / value=0\.25 1764100000000000000$/,
    );
    // Not a number to InfluxDB: no line.
    expect(enc.encode({ ts: 0, metric: "probe.rtt_ms", labels, value: Number.NaN }, 1)).toBeUndefined();
  });

  it("escapes commas, spaces, equals signs; a newline becomes a space; `time` is renamed", () => {
    expect(tagsText({ "a b": "x,y=z", n: "one\ntwo", time: "t" })).toBe(
      ",a\\ b=x\\,y\\=z,n=one\\ two,time_=t",
    );
  });

  it("excluded metrics make no line", () => {
    const enc = new SampleEncoder((m) => m.startsWith("os.fs."));
    expect(enc.encode({ ts: 0, metric: "os.fs.used_percent", labels: {}, value: 1 }, 1)).toBeUndefined();
    expect(enc.encode({ ts: 0, metric: "os.cpu", labels: {}, value: 1 }, 1)).toBe("os.cpu value=1 1000000");
  });

  it("decisions in one ms get distinct ns timestamps, in order", () => {
    const c = new DecisionClock();
    expect([c.ns(5), c.ns(5), c.ns(6), c.ns(6.2)]).toEqual(["5000000", "5000001", "6000000", "6000001"]);
  });

  it("rule, event, group, member and sink lines follow the README's schema", () => {
    const rule = ruleLine(
      {
        ts: 1,
        kind: "rule",
        rule: "gw-a-down",
        labels: { collector: "gw-a", host: "h" },
        state: "firing",
        prev: "pending",
        value: 0,
        reason: 'gw-a-down firing: "max" == 0',
      },
      "h",
      "critical",
      "1000000",
    );
    expect(rule).toBe(
      'standby_rule,collector=gw-a,host=h,rule=gw-a-down,severity=critical state="firing",prev="pending",firing=1i,value=0,reason="gw-a-down firing: \\"max\\" == 0" 1000000',
    );
    const ev: StandbyEvent = {
      ts: 2,
      kind: "failover",
      group: "uplink",
      from: "isp-a",
      to: "isp-b",
      rule: "gw-a-down",
      reason: "isp-a unhealthy\n(gw-a-down firing)",
    };
    const line = eventLine(ev, "h", "2000000");
    expect(line).toMatch(
      /^standby_event,group=uplink,host=h,kind=failover text="failover uplink: isp-a → isp-b",/,
    );
    expect(line).toContain('reason="isp-a unhealthy (gw-a-down firing)",from="isp-a",to="isp-b"');
    expect(line).toContain(',rule="gw-a-down",json="{\\"ts\\":2,');
    expect(line.split("\n")).toHaveLength(1);
    const lines = groupLines(
      {
        name: "uplink",
        active: "isp-b",
        switching: false,
        frozen: false,
        pinned: true,
        members: [
          { name: "isp-a", priority: 100, health: "unhealthy", reason: "r" },
          { name: "isp-b", priority: 50, health: "healthy", reason: "ok" },
        ],
      },
      "h",
      "3000000",
    );
    expect(lines).toEqual([
      'standby_group,group=uplink,host=h active="isp-b",active_priority=50i,active_rank=2i,failed_over=1i,members=2i,healthy_members=1i,switching=0i,frozen=0i,pinned=1i 3000000',
      'standby_member,group=uplink,host=h,member=isp-a health="unhealthy",health_value=0i,healthy=0i,active=0i,priority=100i,reason="r" 3000000',
      'standby_member,group=uplink,host=h,member=isp-b health="healthy",health_value=2i,healthy=1i,active=1i,priority=50i,reason="ok" 3000000',
    ]);
    expect(sinkLine("h", "influx", { written: 5, dropped: 0 }, undefined, "4")).toBe(
      'standby_sink,host=h,sink=influx written=5i,dropped=0i,last_error="" 4',
    );
  });

  it("counts the lines of a batch", () => {
    expect([countLines(""), countLines("a 1 1\n"), countLines("a 1 1\nb 2 2\n"), countLines("a\nb")]).toEqual(
      [0, 1, 2, 2],
    );
  });
});

describe("fleet mode in the sinks", () => {
  const view = {
    name: "vip",
    active: "r1",
    switching: false,
    frozen: false,
    pinned: false,
    members: [
      { name: "r1", priority: 100, health: "degraded", reason: "1 of 3 observers see r1 unhealthy" },
      { name: "r2", priority: 50, health: "healthy", reason: "3 of 3 observers: r2 healthy" },
    ],
    fleet: {
      leader: "d1",
      isLeader: true,
      fence: "42",
      votes: {
        r1: { healthy: 2, degraded: 0, unhealthy: 1, unknown: 0 },
        r2: { healthy: 3, degraded: 0, unhealthy: 0, unknown: 0 },
      },
    },
  };

  it("standby_group carries the leader and the fence, standby_member the votes", () => {
    const lines = groupLines(view, "h", "5");
    expect(lines[0]).toBe(
      'standby_group,group=vip,host=h active="r1",active_priority=100i,active_rank=1i,failed_over=0i,members=2i,healthy_members=1i,switching=0i,frozen=0i,pinned=0i,leader="d1",is_leader=1i,fence="42" 5',
    );
    expect(lines[1]).toMatch(/,votes_healthy=2i,votes_degraded=0i,votes_unhealthy=1i,votes_unknown=0i 5$/);
    expect(groupLines({ ...view, fleet: undefined }, "h", "5")[0]).not.toMatch(/leader/);
  });

  it("metrics.prom gets standby_group_leader and standby_member_votes for shared groups only", () => {
    const text = [...decisionGauges([view, { name: "local", active: "a", members: [] }], [])];
    expect(text).toContain('standby_group_leader{group="vip"} 1');
    expect(text).toContain('standby_member_votes{group="vip",member="r1",health="unhealthy"} 1');
    expect(text).toContain('standby_member_votes{group="vip",member="r2",health="healthy"} 3');
    expect(text.some((l) => l.includes('group="local"') && l.startsWith("standby_group_leader"))).toBe(false);
    expect([...decisionGauges([{ name: "local", active: "a", members: [] }], [])].join("\n")).not.toMatch(
      /leader|votes/,
    );
  });
});

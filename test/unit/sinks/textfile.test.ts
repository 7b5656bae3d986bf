import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decisionGauges, MetricsTextfile, promName } from "../../../src/sinks/textfile.js";

describe("metrics.prom", () => {
  it("keeps the latest value of every series and writes Prometheus text format with the decisions", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-prom-")), "metrics.prom");
    const m = new MetricsTextfile(path);
    const labels = { collector: "gw-a", target: 'a"b' };
    m.record([
      { ts: 1, metric: "probe.success", labels, value: 1 },
      { ts: 2, metric: "probe.rtt_ms", labels, value: 0.25 },
    ]);
    m.record([{ ts: 3, metric: "probe.success", labels, value: 0 }]);
    await m.write(
      decisionGauges(
        [
          {
            name: "uplink",
            active: "isp-b",
            members: [
              { name: "isp-a", health: "unhealthy" },
              { name: "isp-b", health: "healthy" },
            ],
          },
        ],
        [{ rule: "gw-a-down", labels: { collector: "gw-a" }, state: "firing" }],
      ),
    );
    expect(readFileSync(path, "utf8").split("\n")).toEqual([
      "# TYPE standby_probe_rtt_ms gauge",
      'standby_probe_rtt_ms{collector="gw-a",target="a\\"b"} 0.25',
      "# TYPE standby_probe_success gauge",
      'standby_probe_success{collector="gw-a",target="a\\"b"} 0',
      "# TYPE standby_group_active gauge",
      'standby_group_active{group="uplink",member="isp-a"} 0',
      'standby_group_active{group="uplink",member="isp-b"} 1',
      "# TYPE standby_member_healthy gauge",
      'standby_member_healthy{group="uplink",member="isp-a",health="unhealthy"} 0',
      'standby_member_healthy{group="uplink",member="isp-b",health="healthy"} 1',
      "# TYPE standby_rule_firing gauge",
      'standby_rule_firing{collector="gw-a",rule="gw-a-down",state="firing"} 1',
      "",
    ]);
    expect(promName("md.array.degraded")).toBe("standby_md_array_degraded");
  });

  it("one line per series whatever label objects its samples carry; metrics of one label set kept apart", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-prom-")), "metrics.prom");
    const m = new MetricsTextfile(path, 1000);
    m.record([
      { ts: 1, metric: "snmp.if.in_octets", labels: { target: "r1", ifIndex: "1" }, value: 5 },
      { ts: 1, metric: "snmp.if.out_octets", labels: { target: "r1", ifIndex: "1" }, value: 6 },
    ]);
    // A fresh label object with the same labels (a collector rebuilt after a reload): the same series.
    const again = { target: "r1", ifIndex: "1" };
    m.record([{ ts: 900, metric: "snmp.if.in_octets", labels: again, value: 7 }]);
    expect(m.size).toBe(2);
    // out_octets silent past forget_after: dropped, in_octets of the same labels stays.
    m.record([{ ts: 1500, metric: "snmp.if.in_octets", labels: again, value: 8 }]);
    await m.write();
    expect(readFileSync(path, "utf8")).toBe(
      '# TYPE standby_snmp_if_in_octets gauge\nstandby_snmp_if_in_octets{target="r1",ifIndex="1"} 8\n',
    );
    expect(m.size).toBe(1);
  });
});

/**
 * What node_exporter's textfile collector accepts (collector/textfile.go + expfmt's text parser): no timestamps
 * (it skips a file whose samples carry one), every sample's family declared by `# TYPE` before its first sample
 * and only once, a file others can read (node_exporter does not run as root).
 */
function parseLikeNodeExporter(text: string): { name: string; labels: string; value: number }[] {
  const typed = new Set<string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped)$/.exec(line);
    if (t) {
      if (typed.has(t[1]!)) throw new Error(`second TYPE line for ${t[1]}`);
      if (samples.some((s) => s.name === t[1])) throw new Error(`TYPE for ${t[1]} after its samples`);
      typed.add(t[1]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})? (\S+)( \S+)?$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    if (m[4] !== undefined) throw new Error(`timestamp on ${line}: the textfile collector skips the file`);
    if (!typed.has(m[1]!)) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ?? "", value: Number(m[3]) });
  }
  return samples;
}

describe("metrics.prom and label churn", () => {
  it("drops a series silent for forget_after (10m by default), keeps the others", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-prom-")), "metrics.prom");
    const m = new MetricsTextfile(path, 60_000);
    for (let i = 0; i < 100; i++)
      m.record([{ ts: i, metric: "nic.link_up", labels: { dev: `veth${i}` }, value: 1 }]);
    m.record([{ ts: 61_000, metric: "nic.link_up", labels: { dev: "eth0" }, value: 1 }]);
    await m.write();
    const lines = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("standby_"));
    expect(lines).toEqual(['standby_nic_link_up{dev="eth0"} 1']);
  });

  it("a forgotten series that speaks again (the same label object) is back in the file", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-prom-")), "metrics.prom");
    const m = new MetricsTextfile(path, 60_000);
    const veth = { dev: "veth0" };
    const eth = { dev: "eth0" };
    m.record([{ ts: 0, metric: "nic.link_up", labels: veth, value: 1 }]);
    m.record([{ ts: 61_000, metric: "nic.link_up", labels: eth, value: 1 }]);
    await m.write();
    m.record([{ ts: 62_000, metric: "nic.link_up", labels: veth, value: 0 }]);
    // Two label objects with the same labels are one series.
    m.record([{ ts: 62_001, metric: "nic.link_up", labels: { dev: "eth0" }, value: 0 }]);
    await m.write();
    const lines = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("standby_"));
    expect(lines).toEqual(['standby_nic_link_up{dev="eth0"} 0', 'standby_nic_link_up{dev="veth0"} 0']);
  });
});

describe("metrics.prom for node_exporter's textfile collector", () => {
  it("has no timestamps, a TYPE before each family, mode 0644, written asynchronously", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-prom-"));
    const path = join(dir, "metrics.prom");
    const m = new MetricsTextfile(path);
    m.record([
      { ts: 1764100000123, metric: "probe.success", labels: { collector: "gw-a" }, value: 1 },
      { ts: 1764100000456, metric: "probe.rtt_ms", labels: { collector: "gw-a" }, value: 0.5 },
      { ts: 1764100000789, metric: "probe.success", labels: { collector: "gw-b" }, value: 0 },
    ]);
    const written = m.write(
      decisionGauges(
        [{ name: "uplink", active: "isp-a", members: [{ name: "isp-a", health: "healthy" }] }],
        [],
      ),
    );
    expect(written).toBeInstanceOf(Promise);
    await written;
    const samples = parseLikeNodeExporter(readFileSync(path, "utf8"));
    expect(samples).toEqual([
      { name: "standby_probe_rtt_ms", labels: '{collector="gw-a"}', value: 0.5 },
      { name: "standby_probe_success", labels: '{collector="gw-a"}', value: 1 },
      { name: "standby_probe_success", labels: '{collector="gw-b"}', value: 0 },
      { name: "standby_group_active", labels: '{group="uplink",member="isp-a"}', value: 1 },
      {
        name: "standby_member_healthy",
        labels: '{group="uplink",member="isp-a",health="healthy"}',
        value: 1,
      },
    ]);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    // No temp file left behind.
    expect(readdirSync(dir)).toEqual(["metrics.prom"]);
  });
});

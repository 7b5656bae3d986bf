import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decisionGauges, MetricsTextfile, promName } from "../../src/sinks/textfile.js";

describe("metrics.prom", () => {
  it("keeps the latest value of every series and writes Prometheus text format with the decisions", () => {
    const path = join(mkdtempSync(join(tmpdir(), "sb-prom-")), "metrics.prom");
    const m = new MetricsTextfile(path);
    const labels = { collector: "gw-a", target: 'a"b' };
    m.record([
      { ts: 1, metric: "probe.success", labels, value: 1 },
      { ts: 2, metric: "probe.rtt_ms", labels, value: 0.25 },
    ]);
    m.record([{ ts: 3, metric: "probe.success", labels, value: 0 }]);
    m.write(
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
      'standby_probe_rtt_ms{collector="gw-a",target="a\\"b"} 0.25 2',
      "# TYPE standby_probe_success gauge",
      'standby_probe_success{collector="gw-a",target="a\\"b"} 0 3',
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
});

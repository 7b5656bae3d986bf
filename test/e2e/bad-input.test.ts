/**
 * Bad input must not take the daemon down: an unreachable probe target, an action command that does not
 * exist, one that hangs, a route over an interface that does not exist. Each gives a clear event, and the
 * uplink group keeps failing over.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import type { EventOf } from "../../src/groups/events.js";
import { assertBuilt, startDaemon, tempDir, writeBedConfig } from "./daemon-harness.js";
import { waitFor } from "./testbed.js";
import { describeWithTestbed } from "./use-testbed.js";

describeWithTestbed("bad input in a running daemon", { tag: "e2", index: 2 }, (bed) => {
  beforeAll(() => assertBuilt());

  it("unreachable target, missing and hanging commands, unknown interface: events, no crash", async () => {
    const dir = tempDir("sb-e2e-bad-");
    const unreachable = `10.${bed.addr.octet}.99.99`;
    const config = writeBedConfig(bed, dir, {
      extraCollectors: `  - name: nowhere
    type: probe
    interval: 200ms
    timeout: 150ms
    probe: {kind: icmp, target: ${unreachable}}`,
      extraGroups: `  - name: svc
    members:
      - name: main
        priority: 100
        health: [nowhere-down]
        activate: []
      - name: missing
        priority: 90
        health: []
        activate: [{exec: {argv: [/nonexistent/failover-script]}}]
      - name: hangs
        priority: 80
        health: []
        activate: [{exec: {argv: [/bin/sleep, "60"], timeout: 1s}}]
      - name: no-such-dev
        priority: 70
        health: []
        activate: [{route: {to: 192.0.2.0/24, dev: nonexist0}}]
    failback: {mode: manual}`,
    });
    writeFileSync(
      join(dir, "rules.yaml"),
      `${readFileSync(join(dir, "rules.yaml"), "utf8")}  - name: nowhere-down
    metric: probe.success
    labels: {collector: nowhere}
    problem: "max over 3 samples == 0"
`,
    );
    const d = startDaemon(bed, config);
    try {
      await d.started();
      expect(d.stderr.join("\n")).toContain(
        'group \\"svc\\": member \\"no-such-dev\\" names interface \\"nonexist0\\", which does not exist on this host (yet)',
      );
      // main is unhealthy (its target never answers): the group tries missing → hangs → no-such-dev, each failing.
      await waitFor(() => d.events().filter((e) => e.kind === "switch_failed").length >= 3, {
        timeout: 30_000,
        interval: 100,
      });
      const failed = d.events().filter((e): e is EventOf<"switch_failed"> => e.kind === "switch_failed");
      expect(failed.map((e) => e.to)).toEqual(["missing", "hangs", "no-such-dev"]);
      expect(failed[0]!.reason).toMatch(/exec: .*\/nonexistent\/failover-script.*(no such file|not found)/i);
      expect(failed[1]!.reason).toMatch(/timed out after 1s/);
      expect(failed[2]!.reason).toMatch(/nonexist0/);
      await waitFor(() => d.events().some((e) => e.kind === "no_healthy_member" && e.group === "svc"), {
        timeout: 10_000,
        interval: 100,
      });
      // The uplink group is unaffected: it still fails over.
      await bed.linkDown("r1");
      await waitFor(async () => (await bed.defaultRoute()).router === "r2", {
        timeout: 10_000,
        interval: 50,
      });
      expect(d.exited).toBeUndefined();
    } finally {
      await bed.repairAll();
      await d.stop();
    }
    expect(d.exited?.code).toBe(0);
  }, 90_000);
});

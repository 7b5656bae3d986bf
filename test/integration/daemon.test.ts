import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { setup, start, stopAll, switchesFile, tempDir, until } from "./daemon-harness.js";

afterEach(stopAll);

describe("daemon (in process, fake collectors, real actions and files)", () => {
  it("fails over, runs the activation, writes events and state; a restart does not switch again", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    const { d, a, b, events } = await start(config);
    for (let i = 0; i < 3; i++) {
      a.send(1);
      b.send(1);
    }
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => switchesFile(dir).length === 1);
    expect(switchesFile(dir)).toEqual(["isp-a>isp-b"]);
    await until(() => events.some((e) => e.kind === "action"));
    const action = events.find((e) => e.kind === "action")!;
    expect(action).toMatchObject({
      group: "uplink",
      member: "isp-b",
      action: "exec",
      phase: "activate",
      ok: true,
    });
    const log = readFileSync(join(dir, "state", "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.map((e) => e.kind)).toContain("failover");
    const state = JSON.parse(readFileSync(join(dir, "state", "state.json"), "utf8"));
    expect(state.groups.uplink.active).toBe("isp-b");
    await d.stop();
    // The latest samples and the decisions are on disk as Prometheus text.
    const prom = readFileSync(join(dir, "state", "metrics.prom"), "utf8");
    expect(prom).toMatch(/^standby_probe_success\{collector="gw-a"\} 0$/m);
    expect(prom).toContain('standby_group_active{group="uplink",member="isp-b"} 1');
    // Restart: same state dir; the group resumes on isp-b and runs nothing.
    const again = await start(config);
    expect(again.d.status().groups[0]?.active).toBe("isp-b");
    await new Promise((r) => setTimeout(r, 200));
    expect(switchesFile(dir)).toEqual(["isp-a>isp-b"]);
  });

  it("fails back after the hold once the preferred member recovers", async () => {
    const dir = tempDir();
    const { a, b } = await start(await setup(dir));
    for (let i = 0; i < 3; i++) b.send(1);
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => switchesFile(dir).length === 1);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) a.send(1);
    await until(() => switchesFile(dir).length === 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(switchesFile(dir)).toEqual(["isp-a>isp-b", "isp-b>isp-a"]);
  });

  it("--dry-run decides and logs but runs no action", async () => {
    const dir = tempDir();
    const { d, a, b, events } = await start(await setup(dir), { dryRun: true });
    for (let i = 0; i < 3; i++) b.send(1);
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => events.some((e) => e.kind === "action"));
    expect(events.find((e) => e.kind === "action")).toMatchObject({ dry_run: true, ok: true });
    expect(d.status().groups[0]?.active).toBe("isp-b");
    expect(switchesFile(dir)).toEqual([]);
  });

  it("an action that fails is a switch_failed event; an operator command works through the daemon", async () => {
    const dir = tempDir();
    const config = await setup(dir, {
      extraGroup: `  - name: svc
    members:
      - {name: main, priority: 10, health: [], activate: []}
      - {name: spare, priority: 5, health: [], activate: [{exec: {argv: [/nonexistent/program]}}]}
`,
    });
    const { d, events } = await start(config);
    const r = await d.command("svc", { command: "failover" });
    expect(r.ok).toBe(true);
    await until(() => events.some((e) => e.kind === "switch_failed"));
    const failed = events.find((e) => e.kind === "switch_failed")!;
    expect(failed.reason).toMatch(/switch to spare failed: activation failed: exec: .*nonexistent/);
    expect((await d.command("svc", { command: "pin", member: "nope" })).error).toBe(
      'group "svc" has no member "nope"',
    );
  });

  it("reload carries rule and group state over", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    const { d, a, b } = await start(config);
    for (let i = 0; i < 3; i++) b.send(1);
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => switchesFile(dir).length === 1);
    await d.reload(await setup(dir));
    const s = d.status();
    expect(s.groups[0]?.active).toBe("isp-b");
    expect(s.rules.find((r) => r.rule === "gw-a-down")?.state).toBe("firing");
  });
});

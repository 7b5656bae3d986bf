/**
 * Reload, reconciliation and dry run of the in-process daemon (issue 6 items 7, 8, 9).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ActionContext, ActionResult } from "../../src/actions/run.js";
import type { ActionSpec } from "../../src/actions/types.js";
import type { Config } from "../../src/config/schema.js";
import type { ReloadOutcome } from "../../src/daemon/daemon.js";
import type { GroupSpec } from "../../src/groups/types.js";
import { readJson, setup, sleep, start, stopAll, switchesFile, tempDir, until } from "./daemon-harness.js";

afterEach(stopAll);

/** Counts the actions that run at the same time in each group, each taking `ms`. */
function slowActions(ms: number) {
  const running = new Map<string, number>();
  let maxConcurrent = 0;
  const ran: { group: string; to: string; reason: string }[] = [];
  const runAction = async (_a: ActionSpec, ctx: ActionContext): Promise<ActionResult> => {
    const n = (running.get(ctx.group) ?? 0) + 1;
    running.set(ctx.group, n);
    maxConcurrent = Math.max(maxConcurrent, n);
    ran.push({ group: ctx.group, to: ctx.to, reason: ctx.reason });
    await sleep(ms);
    running.set(ctx.group, (running.get(ctx.group) ?? 1) - 1);
    return { ok: true, kind: "exec", durationMs: ms, output: "" };
  };
  return { runAction, ran, max: () => maxConcurrent };
}

describe("reconciliation (item 7)", () => {
  it("never runs alongside a switch of its group, and periodic runs never overlap", async () => {
    const dir = tempDir();
    const acts = slowActions(80);
    let reads = 0;
    let concurrentReads = 0;
    let maxReads = 0;
    const { a, b } = await start(await setup(dir), {
      runAction: acts.runAction,
      reassertEvery: 10,
      // Reality always shows the other member (something keeps moving it) and is slow to read.
      installed: async (g: GroupSpec) => {
        reads++;
        concurrentReads++;
        maxReads = Math.max(maxReads, concurrentReads);
        await sleep(30);
        concurrentReads--;
        return [g.members[1]!.name];
      },
    });
    for (let i = 0; i < 3; i++) b.send(1);
    await sleep(50);
    for (let i = 0; i < 3; i++) a.send(0);
    await sleep(150);
    for (let i = 0; i < 3; i++) a.send(1);
    await sleep(1300); // failback after the 1 s hold
    expect(reads).toBeGreaterThan(5);
    expect(maxReads).toBe(1);
    expect(acts.max()).toBe(1);
    expect(acts.ran.some((r) => r.reason.startsWith("re-assert isp-a"))).toBe(true);
  });

  it("a reload that removes a group while its reconciliation awaits does not throw from the timer", async () => {
    const dir = tempDir();
    const extra = `  - name: svc
    members:
      - {name: main, priority: 10, health: [], activate: [{exec: {argv: [/bin/true]}}]}
      - {name: spare, priority: 5, health: [], activate: [{exec: {argv: [/bin/true]}}]}
`;
    const acts = slowActions(1);
    let inRead = false;
    const { d } = await start(await setup(dir, { extraGroup: extra }), {
      runAction: acts.runAction,
      reassertEvery: 20,
      installed: async (g) => {
        inRead = true;
        await sleep(60);
        inRead = false;
        return [g.members[1]!.name];
      },
    });
    await until(() => inRead);
    const r = await d.reload(await setup(dir));
    expect(r?.ok).toBe(true);
    await sleep(200);
    expect(d.status().groups.map((g) => g.name)).toEqual(["uplink"]);
    expect(acts.ran.filter((x) => x.group === "svc" && x.reason.startsWith("re-assert"))).toHaveLength(0);
  });
});

describe("reload (item 8)", () => {
  it("coalesces reloads: five at once are one, plus one after it; no collector is orphaned", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    const outcomes: ReloadOutcome[] = [];
    const { d, a, b } = await start(config, { onReload: (r) => outcomes.push(r) });
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => d.reload(config)));
    expect(outcomes.map((o) => o.ok)).toEqual([true, true]);
    expect(all.every((r) => r?.ok)).toBe(true);
    // Started once at start, then once per reload actually run.
    expect(a.signals.length).toBe(3);
    expect(a.signals.filter((s) => !s.aborted)).toHaveLength(1);
    expect(b.signals.filter((s) => !s.aborted)).toHaveLength(1);
    expect(d.status().last_reload).toMatchObject({
      ok: true,
      message: expect.stringMatching(/^reloaded: 1 group/),
    });
  });

  it("a reload that fails after validation leaves the old config running, collectors included", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    const { d, a } = await start(config);
    const broken = {
      ...config,
      groups: [{ ...config.groups[0]!, members: [] }],
    } as unknown as Config;
    const r = await d.reload(broken);
    expect(r?.ok).toBe(false);
    expect(r?.message).toMatch(
      /^reload refused: group "uplink" has no members; the running configuration stays/,
    );
    expect(a.signals.filter((s) => !s.aborted)).toHaveLength(1);
    expect(d.status().groups[0]?.members).toHaveLength(2);
    expect(d.status().last_reload?.ok).toBe(false);
    // Still monitoring: a failure is acted on.
    for (let i = 0; i < 3; i++) a.send(0);
    await sleep(20);
    expect(d.status().groups[0]?.members[0]?.health).toBe("unhealthy");
  });

  it("a changed failback hold resets the doubled hold", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "state"));
    const wall = Date.now();
    // A hold doubled twice (1 s → 4 s) after failed failbacks, as a previous run saved it.
    writeFileSync(
      join(dir, "state", "state.json"),
      JSON.stringify({
        version: 1,
        savedAt: wall,
        groups: {
          uplink: {
            active: "isp-a",
            since: wall,
            switches: [],
            hold: 4000,
            excluded: {},
            health: {},
            healthySince: {},
            seen: [],
            verifyFiring: [],
            noHealthy: false,
            startedAt: wall,
          },
        },
      }),
    );
    const { d } = await start(await setup(dir, { hold: "1s" }));
    expect(d.status().groups[0]?.hold_ms).toBe(4000);
    await d.reload(await setup(dir, { hold: "1s" }));
    expect(d.status().groups[0]?.hold_ms).toBe(4000); // unchanged hold: the growth stays
    await d.reload(await setup(dir, { hold: "500ms" }));
    expect(d.status().groups[0]?.hold_ms).toBe(500);
  });

  it("a reload that changes state_dir writes the event log and state there", async () => {
    const dir = tempDir();
    const { d, a } = await start(await setup(dir));
    const other = join(dir, "other");
    await d.reload(await setup(dir, { stateDir: other }));
    for (let i = 0; i < 3; i++) a.send(0);
    await d.stop();
    expect(existsSync(join(other, "events.jsonl"))).toBe(true);
    expect(existsSync(join(other, "state.json"))).toBe(true);
  });
});

describe("dry run (item 9)", () => {
  it("writes no state file, marks its events, and a later real start does not inherit its decisions", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    const dry = await start(config, { dryRun: true });
    for (let i = 0; i < 3; i++) dry.b.send(1);
    for (let i = 0; i < 3; i++) dry.a.send(0);
    await until(() => dry.events.some((e) => e.kind === "action"));
    expect(dry.d.status().groups[0]?.active).toBe("isp-b");
    await dry.d.stop();
    expect(existsSync(join(dir, "state", "state.json"))).toBe(false);
    expect(dry.events.every((e) => e.dry_run === true)).toBe(true);
    expect(switchesFile(dir)).toEqual([]);
    const real = await start(config);
    expect(real.d.status().groups[0]?.active).toBe("isp-a");
  });

  it("re-asserts (in dry run: logs) a difference from reality once, not at every reconciliation", async () => {
    const dir = tempDir();
    const { events } = await start(await setup(dir), {
      dryRun: true,
      reassertEvery: 10,
      installed: async () => [], // nothing installed: a dry run never installs it
    });
    await sleep(300);
    expect(events.filter((e) => e.kind === "action" && e.phase === "reassert")).toHaveLength(1);
  });

  it("a corrupt state file is left in place by a dry run", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "state"));
    writeFileSync(join(dir, "state", "state.json"), "{nope");
    const { d, events } = await start(await setup(dir), { dryRun: true });
    expect(events.find((e) => e.kind === "state_discarded")?.reason).toMatch(/left in place \(dry run\)/);
    await d.stop();
    expect(() => readJson(join(dir, "state", "state.json"))).toThrow();
  });
});

describe("a failed activation is retried (issue 6 item 16)", () => {
  it("re-runs the activation of the member left active when its exclusion ends, and only its activation", async () => {
    const dir = tempDir();
    const ran: { to: string; phase: string }[] = [];
    let failB = true;
    const runAction = async (_a: ActionSpec, ctx: ActionContext): Promise<ActionResult> => {
      ran.push({ to: ctx.to, phase: ctx.reason.startsWith("retrying") ? "retry" : "switch" });
      if (ctx.to === "isp-b" && failB) {
        failB = false;
        return { ok: false, kind: "exec", durationMs: 1, output: "", error: "exit 1" };
      }
      return { ok: true, kind: "exec", durationMs: 1, output: "" };
    };
    const { a, b, events } = await start(await setup(dir, { hold: "500ms" }), { runAction });
    for (let i = 0; i < 3; i++) b.send(1);
    for (let i = 0; i < 3; i++) a.send(1);
    await sleep(50);
    for (let i = 0; i < 3; i++) a.send(0); // isp-a down: failover to isp-b, whose activation fails once
    await until(() => events.some((e) => e.kind === "switch_failed"));
    await until(() => events.some((e) => e.kind === "switch_retry"), 3000);
    await until(() => ran.filter((r) => r.to === "isp-b").length >= 2, 3000);
    expect(events.filter((e) => e.kind === "switch_retry")).toHaveLength(1);
    // The retry activated isp-b again and deactivated nothing (from and to are the same member).
    const deactivations = events.filter((e) => e.kind === "action" && e.phase === "deactivate");
    expect(deactivations).toEqual([]);
  });
});

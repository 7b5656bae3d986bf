/**
 * Daemon.liveness on the real daemon with a fake monotonic clock: a switch whose action never returns makes the
 * switch queue stuck once the clock passes the group's budget; a polled collector that stops being run makes the
 * scheduler stuck. (The pure rules are in test/unit/daemon/liveness.test.ts.)
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ActionResult } from "../../src/actions/run.js";
import type { PollCollector } from "../../src/collector.js";
import { LIVENESS_GRACE_MS, switchBudgetMs } from "../../src/daemon/liveness.js";
import type { Clock } from "../../src/util/clock.js";
import { setup, start, stopAll, tempDir, until } from "./daemon-harness.js";

afterEach(stopAll);

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 1_764_100_000_000;
  return { mono: () => t, wall: () => t, advance: (ms) => (t += ms) };
}

describe("Daemon.liveness", () => {
  it("a switch whose action hangs is stuck once it outlives its group's budget, and turns again when it ends", async () => {
    const clock = fakeClock();
    const config = await setup(tempDir());
    let release: ((r: ActionResult) => void) | undefined;
    const { d, a, b } = await start(config, {
      clock,
      installed: async () => undefined,
      runAction: () => new Promise<ActionResult>((r) => (release = r)),
    });
    try {
      expect(d.liveness()).toBeUndefined();
      expect(d.summary()).toBe("1 group(s): uplink: isp-a");
      for (let i = 0; i < 3; i++) {
        a.send(1);
        b.send(1);
      }
      const r = await d.command("uplink", { command: "failover" });
      expect(r.ok).toBe(true);
      await until(() => release !== undefined); // the activation of isp-b runs (and never returns)
      expect(d.summary()).toBe("1 group(s): uplink: isp-b (switching)");
      const budget = switchBudgetMs(config.groups[0]);
      clock.advance(budget);
      expect(d.liveness()).toBeUndefined();
      clock.advance(1);
      expect(d.liveness()).toMatch(/^group uplink's switch queue is stuck: a job has run for \d/);
      release!({ ok: true, kind: "exec", output: "", durationMs: 1 });
      await until(() => d.liveness() === undefined);
    } finally {
      release?.({ ok: true, kind: "exec", output: "", durationMs: 1 });
    }
  });

  it("a polled collector that is not run within its bound makes the scheduler stuck", async () => {
    const clock = fakeClock();
    const config = await setup(tempDir());
    // Polled every 10 s: its runs follow real timers, the liveness check reads the fake clock.
    let runs = 0;
    const poll: PollCollector = {
      kind: "poll",
      name: "slow",
      interval: 10_000,
      timeout: 1000,
      collect: async () => {
        runs++;
        return [];
      },
    };
    const { d } = await start(config, { clock, collectors: [poll] });
    await until(() => runs === 1); // the first run comes within the start spread (100 ms for one collector)
    // The next run is due within 10 s + 1 s of jitter; the check allows the grace on top.
    clock.advance(11_000 + LIVENESS_GRACE_MS);
    expect(d.liveness()).toBeUndefined();
    clock.advance(1);
    expect(d.liveness()).toBe("the scheduler is stuck: collector slow (every 10s) has not run for 31.001s");
  });
});

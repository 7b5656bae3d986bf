/** The watchdog's loop (watchdog.ts) on a fake clock and fake timers: pings, skips, STATUS=. */
import { describe, expect, it } from "vitest";
import { statusField, takeNotifyEnv } from "../../../src/daemon/notify.js";
import { type Supervised, Watchdog, watchdogTiming } from "../../../src/daemon/watchdog.js";
import { quietLog } from "../../helpers.js";

/** A clock and one pending timer, advanced by hand. */
function fakeTime() {
  let now = 0;
  let timer: { at: number; fn: () => void } | undefined;
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      timer = { at: now + ms, fn };
      return timer;
    },
    clearTimer: (h: unknown) => {
      if (h === timer) timer = undefined;
    },
    /** Moves the clock to `to`, firing the timer when due (late when `to` is past it: a blocked loop). */
    run(to: number) {
      while (timer && timer.at <= to) {
        const t = timer;
        timer = undefined;
        now = Math.max(now, t.at);
        t.fn();
      }
      now = to;
    },
    /** The loop was blocked until `to`: the pending timer fires then, late. */
    block(to: number) {
      now = to;
      const t = timer;
      timer = undefined;
      t?.fn();
    },
    get pending() {
      return timer;
    },
  };
}

function setup(target: Supervised, usec = "600000") {
  const time = fakeTime();
  const sent: string[][] = [];
  const w = new Watchdog({
    target,
    send: (f) => sent.push([...f]),
    log: quietLog,
    timing: watchdogTiming(usec, undefined),
    now: time.now,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
  });
  return { time, sent, w };
}

const pings = (sent: string[][]) => sent.filter((f) => f.includes("WATCHDOG=1")).length;

describe("watchdogTiming", () => {
  it("pings every WATCHDOG_USEC/3 and calls a timer late by more than WATCHDOG_USEC/2 a blocked loop", () => {
    expect(watchdogTiming("30000000", undefined)).toEqual({ everyMs: 10_000, maxLateMs: 15_000 });
    expect(watchdogTiming("600000", String(process.pid))).toEqual({ everyMs: 200, maxLateMs: 300 });
  });

  it("no watchdog without WATCHDOG_USEC, with 0 or garbage, or when WATCHDOG_PID is another process", () => {
    expect(watchdogTiming(undefined, undefined)).toBeUndefined();
    expect(watchdogTiming("0", undefined)).toBeUndefined();
    expect(watchdogTiming("30s", undefined)).toBeUndefined();
    expect(watchdogTiming("30000000", "1", 4242)).toBeUndefined();
    expect(watchdogTiming("30000000", "4242", 4242)).toBeDefined();
  });
});

describe("Watchdog", () => {
  it("pings every third of the period and sends STATUS= only when it changes", () => {
    let summary = "1 group(s): uplink: isp-a";
    const { time, sent, w } = setup({ liveness: () => undefined, summary: () => summary });
    expect(w.start()).toEqual(["WATCHDOG=1", "STATUS=1 group(s): uplink: isp-a"]);
    time.run(1000);
    expect(sent).toEqual([["WATCHDOG=1"], ["WATCHDOG=1"], ["WATCHDOG=1"], ["WATCHDOG=1"], ["WATCHDOG=1"]]);
    summary = "1 group(s): uplink: isp-b (switching)";
    time.run(1200);
    expect(sent.at(-1)).toEqual(["WATCHDOG=1", "STATUS=1 group(s): uplink: isp-b (switching)"]);
  });

  it("skips the ping when its timer fired later than half the period (a blocked event loop), then resumes", () => {
    const { time, sent, w } = setup({ liveness: () => undefined, summary: () => "ok" });
    w.start();
    time.run(400); // pings at 200, 400
    time.block(2400); // the timer due at 600 fires at 2400
    expect(sent.at(-1)).toEqual([
      "STATUS=watchdog pings stopped: the event loop was blocked: the watchdog's timer fired 1.8s late (at most 300ms)",
    ]);
    expect(pings(sent)).toBe(2);
    time.run(2600); // on time again
    expect(sent.at(-1)).toEqual(["WATCHDOG=1", "STATUS=ok"]);
    // A timer late by less than half the period is a busy loop, not a blocked one: it pings.
    time.block(2900); // due at 2800, fired 100 ms late
    expect(sent.at(-1)).toEqual(["WATCHDOG=1"]);
  });

  it("no pings while the daemon's decision path is stuck, and STATUS= says why", () => {
    let why: string | undefined;
    const { time, sent, w } = setup({ liveness: () => why, summary: () => "ok" });
    w.start();
    time.run(200);
    why = "group uplink's switch queue is stuck";
    time.run(1000);
    expect(sent).toEqual([
      ["WATCHDOG=1"],
      ["STATUS=watchdog pings stopped: group uplink's switch queue is stuck"],
    ]);
    expect(pings(sent)).toBe(1);
    why = undefined;
    time.run(1200);
    expect(sent.at(-1)).toEqual(["WATCHDOG=1", "STATUS=ok"]);
  });

  it("a check that throws counts as stuck; stop() ends the loop", () => {
    const { time, sent, w } = setup({
      liveness: () => {
        throw new Error("boom");
      },
      summary: () => "ok",
    });
    expect(w.start()).toEqual(["STATUS=watchdog pings stopped: the liveness check failed: boom"]);
    w.stop();
    expect(time.pending).toBeUndefined();
    time.run(10_000);
    expect(sent).toEqual([]);
  });

  it("without a watchdog it only refreshes STATUS= (every 10 s)", () => {
    let summary = "a";
    const { time, sent, w } = setup({ liveness: () => undefined, summary: () => summary }, "");
    expect(w.pinging).toBe(false);
    expect(w.start()).toEqual(["STATUS=a"]);
    summary = "b";
    time.run(9999);
    expect(sent).toEqual([]);
    time.run(10_000);
    expect(sent).toEqual([["STATUS=b"]]);
  });

  it("refreshStatus() sends a changed summary between turns, unless pings are stopped (its reason stays)", () => {
    let summary = "a";
    let why: string | undefined;
    const { time, sent, w } = setup({ liveness: () => why, summary: () => summary });
    w.start();
    w.refreshStatus();
    expect(sent).toEqual([]);
    summary = "b";
    w.refreshStatus();
    expect(sent).toEqual([["STATUS=b"]]);
    why = "stuck";
    time.run(200);
    summary = "c";
    w.refreshStatus();
    expect(sent.at(-1)).toEqual(["STATUS=watchdog pings stopped: stuck"]);
    w.stop();
    why = undefined;
    w.refreshStatus();
    expect(sent).toHaveLength(2);
  });

  it("snapshot() resends STATUS= (READY=1 after a reload)", () => {
    const { w } = setup({ liveness: () => undefined, summary: () => "ok" });
    w.start();
    expect(w.snapshot()).toEqual(["WATCHDOG=1", "STATUS=ok"]);
  });
});

describe("notify fields", () => {
  it("STATUS= is one bounded line", () => {
    expect(statusField("a\nb\r\nc ")).toBe("STATUS=a b c");
    expect(statusField("x".repeat(1000))).toHaveLength("STATUS=".length + 400);
  });

  it("systemd's variables are taken out of the environment the daemon's children inherit", () => {
    const env = {
      NOTIFY_SOCKET: "/run/systemd/notify",
      WATCHDOG_USEC: "30000000",
      WATCHDOG_PID: "7",
      PATH: "/x",
    };
    expect(takeNotifyEnv(env, true)).toEqual({
      socket: "/run/systemd/notify",
      watchdogUsec: "30000000",
      watchdogPid: "7",
    });
    expect(env).toEqual({ PATH: "/x" });
    expect(takeNotifyEnv({}, true)).toEqual({});
  });
});

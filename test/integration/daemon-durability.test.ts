/**
 * The daemon across restarts and bad disks (issue 6 items 3, 10, 11, 12, 16): monotonic time, what state.json
 * keeps, switch intents finished at start, a corrupt state file, writes that stall.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Clock } from "../../src/util/clock.js";
import {
  lines,
  readJson,
  setup,
  sleep,
  start,
  stopAll,
  switchesFile,
  tempDir,
  until,
} from "./daemon-harness.js";

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await stopAll();
});

const HOUR = 3_600_000;

describe("time (item 3)", () => {
  it("a wall clock step of +1h or -1h neither makes series stale nor blinds the daemon", async () => {
    const dir = tempDir();
    const { d, a, b, events } = await start(await setup(dir, { staleAfter: "500ms" }));
    const realNow = Date.now.bind(Date);
    let offset = 0;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + offset);
    const feed = async (ms: number, va = 1) => {
      for (let t = 0; t < ms; t += 50) {
        a.send(va);
        b.send(1);
        await sleep(50);
      }
    };
    await feed(300);
    expect(d.status().groups[0]?.members.map((m) => m.health)).toEqual(["healthy", "healthy"]);
    offset = HOUR; // NTP steps the clock forward
    await feed(700);
    offset = -HOUR; // and back
    await feed(700);
    expect(events.filter((e) => e.kind === "rule" && e.state === "unknown")).toEqual([]);
    expect(d.status().groups[0]?.members.map((m) => m.health)).toEqual(["healthy", "healthy"]);
    // Not blind: a failure after the step back is seen at once.
    await feed(200, 0);
    await until(() => switchesFile(dir).length === 1);
    expect(d.status().groups[0]?.active).toBe("isp-b");
    // Events carry the wall time of the moment they were recorded.
    const fo = events.find((e) => e.kind === "failover")!;
    expect(Math.abs(fo.ts - (realNow() - HOUR))).toBeLessThan(2000);
  });

  it("a pin `for 10m` survives a restart whose monotonic clock starts elsewhere", async () => {
    const dir = tempDir();
    const config = await setup(dir);
    let wall = 1_800_000_000_000;
    let mono = 1_000;
    const clock: Clock = { mono: () => mono, wall: () => wall };
    const first = await start(config, { clock, metricsEvery: 0 });
    const r = await first.d.command("uplink", {
      command: "pin",
      member: "isp-a",
      until: mono + 600_000,
      force: true,
    });
    expect(r.ok).toBe(true);
    expect(r.events.find((e) => e.kind === "pinned")?.ts).toBe(wall);
    await first.d.stop();
    const saved = readJson(join(dir, "state", "state.json")) as {
      groups: { uplink: { pin: { until: number } } };
    };
    expect(saved.groups.uplink.pin.until).toBe(1_800_000_600_000); // wall time on disk
    // A new process, 1 minute later: its monotonic clock restarted near 0.
    wall += 60_000;
    mono = 50;
    const second = await start(config, { clock, metricsEvery: 0 });
    const s = second.d.status().groups[0]!;
    expect(s.pin).toEqual({ member: "isp-a", until: 1_800_000_600_000, by: "pin" });
    // Internally: 9 minutes from now on the new monotonic clock.
    const pinned = await second.d.command("uplink", { command: "unpin" });
    expect(pinned.ok).toBe(true);
  });

  it("event times keep their monotonic distance despite the jitter of reading two clocks", async () => {
    const dir = tempDir();
    let mono = 5_000.4;
    let jitter = 0;
    // Date.now() truncates: its offset from the monotonic clock wobbles by up to 1 ms from read to read.
    const clock: Clock = { mono: () => mono, wall: () => Math.floor(mono + 1_800_000_000_000 + jitter) };
    const { d } = await start(await setup(dir), { clock, metricsEvery: 0 });
    const a = await d.command("uplink", { command: "freeze" });
    mono += 3000;
    jitter = 0.9;
    const b = await d.command("uplink", { command: "unfreeze" });
    expect(b.events[0]!.ts - a.events[0]!.ts).toBe(3000);
  });

  it("a pin beyond setTimeout's range (2^31-1 ms) does not expire when the capped timer wakes", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const dir = tempDir();
    const config = await setup(dir, {
      extraGroup: `  - name: svc
    members:
      - {name: main, priority: 10, health: [], activate: []}
      - {name: spare, priority: 5, health: [], activate: []}
`,
    });
    const t0 = Date.now();
    let mono = t0;
    const clock: Clock = { mono: () => mono, wall: () => mono };
    const { d, events } = await start(config, { clock, metricsEvery: 0 });
    const days30 = 30 * 24 * HOUR;
    const r = await d.command("svc", { command: "pin", member: "spare", until: mono + days30 });
    expect(r.ok).toBe(true);
    mono += 2 ** 31 - 1;
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(events.filter((e) => e.kind === "unpinned")).toEqual([]);
    expect(d.status().groups[1]?.pin?.member).toBe("spare");
    mono = t0 + days30;
    await vi.advanceTimersByTimeAsync(days30 - (2 ** 31 - 1));
    expect(events.filter((e) => e.kind === "unpinned").map((e) => e.reason)).toEqual([
      "pin to spare expired",
    ]);
    vi.useRealTimers();
  });
});

describe("restart (items 10, 11)", () => {
  it("keeps only the durable fields: a restart waits for the members before judging redundancy", async () => {
    const dir = tempDir();
    const config = await setup(dir, { minHealthy: 2 });
    const first = await start(config);
    for (let i = 0; i < 3; i++) {
      first.a.send(1);
      first.b.send(1);
    }
    await until(() => first.d.status().groups[0]!.members.every((m) => m.health === "healthy"));
    await first.d.stop();
    const saved = readJson(join(dir, "state", "state.json")) as { groups: { uplink: object } };
    expect(Object.keys(saved.groups.uplink).sort()).toEqual([
      "active",
      "excluded",
      "hold",
      "since",
      "switches",
    ]);
    const second = await start(config);
    await sleep(300);
    expect(second.events.filter((e) => e.kind === "redundancy_lost")).toEqual([]);
    // Members report: redundancy is judged on fresh data.
    for (let i = 0; i < 3; i++) {
      second.a.send(1);
      second.b.send(1);
    }
    await sleep(50);
    expect(second.events.filter((e) => e.kind === "redundancy_lost")).toEqual([]);
  });

  it("finishes a switch a crash cut short, for exec actions too: activation again, then deactivation", async () => {
    const dir = tempDir();
    const config = await setup(dir, {
      deactivate: `echo "deactivate $STANDBY_FROM>$STANDBY_TO" >> ${join(dir, "switches")}`,
    });
    mkdirSync(join(dir, "state"));
    const wall = Date.now();
    writeFileSync(
      join(dir, "state", "state.json"),
      JSON.stringify({
        version: 2,
        savedAt: wall,
        groups: {
          uplink: {
            active: "isp-b",
            since: wall - 1000,
            switches: [wall - 1000],
            hold: 1000,
            excluded: {},
            intents: [{ from: "isp-a", to: "isp-b", kind: "failover", reason: "gw-a-down firing" }],
          },
        },
      }),
    );
    const { d, events } = await start(config);
    await until(() => switchesFile(dir).length === 2);
    expect(switchesFile(dir)).toEqual(["isp-a>isp-b", "deactivate isp-a>isp-b"]);
    const resumed = events.find((e) => e.kind === "switch_resumed")!;
    expect(resumed).toMatchObject({ group: "uplink", from: "isp-a", to: "isp-b" });
    expect(resumed.reason).toMatch(/finishing the failover isp-a → isp-b cut short by a restart/);
    expect(d.status().groups[0]?.active).toBe("isp-b");
    await d.stop();
    const after = readJson(join(dir, "state", "state.json")) as { groups: { uplink: object } };
    expect(after.groups.uplink).not.toHaveProperty("intents");
    expect(switchesFile(dir)).toHaveLength(2); // exactly once
  });

  it("writes the switch intent before the actions run and clears it after", async () => {
    const dir = tempDir();
    const stateJson = join(dir, "state", "state.json");
    // The activation copies state.json as it is on disk while it runs.
    const config = await setup(dir, {
      activate: `cat ${stateJson} >> ${join(dir, "seen")}; echo >> ${join(dir, "seen")}`,
    });
    const { d, a, b } = await start(config);
    for (let i = 0; i < 3; i++) b.send(1);
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => lines(join(dir, "seen")).length === 1);
    const seen = JSON.parse(lines(join(dir, "seen"))[0]!);
    expect(seen.groups.uplink).toMatchObject({
      active: "isp-b",
      intents: [{ from: "isp-a", to: "isp-b", kind: "failover" }],
    });
    await d.stop();
    expect((readJson(stateJson) as { groups: { uplink: object } }).groups.uplink).not.toHaveProperty(
      "intents",
    );
  });

  for (const [name, text] of [
    ["not JSON", "{garbage"],
    ["half-shaped", JSON.stringify({ version: 2, groups: { uplink: { active: 5 } } })],
    ["an unknown version", JSON.stringify({ version: 9, groups: {} })],
  ] as const) {
    it(`a state file that is ${name} is set aside with an event; the daemon starts`, async () => {
      const dir = tempDir();
      mkdirSync(join(dir, "state"));
      writeFileSync(join(dir, "state", "state.json"), text);
      const { d, events } = await start(await setup(dir));
      const ev = events.find((e) => e.kind === "state_discarded")!;
      expect(ev.reason).toMatch(/state\.json is unusable: .*; moved to .*state\.json\.corrupt-/);
      const aside = readdirSync(join(dir, "state")).filter((f) => f.startsWith("state.json.corrupt-"));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, "state", aside[0]!), "utf8")).toBe(text);
      expect(d.status().groups[0]?.active).toBe("isp-a");
      await d.stop();
      expect((readJson(join(dir, "state", "state.json")) as { version: number }).version).toBe(2);
    });
  }
});

describe("writes off the event loop (item 12)", () => {
  it("a disk that stalls delays no decision, timer or ingest; actions wait for their intent on disk", async () => {
    const dir = tempDir();
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const writes: string[] = [];
    const { d, a, b, events } = await start(await setup(dir), {
      writeFile: async (path) => {
        writes.push(path);
        await stalled;
      },
      appendEvents: () => stalled,
    });
    for (let i = 0; i < 3; i++) b.send(1);
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) a.send(0);
    // Decided at once, and the event loop is free.
    expect(d.status().groups[0]?.active).toBe("isp-b");
    expect(events.some((e) => e.kind === "failover")).toBe(true);
    await sleep(5);
    expect(performance.now() - t0).toBeLessThan(100);
    for (let i = 0; i < 3; i++) a.send(0);
    await sleep(200);
    // Persist before act: no action while the intent is not on disk.
    expect(switchesFile(dir)).toEqual([]);
    expect(writes.some((p) => p.endsWith("state.json"))).toBe(true);
    release();
    await until(() => switchesFile(dir).length === 1);
    expect(switchesFile(dir)).toEqual(["isp-a>isp-b"]);
  });

  it("a switch waits for one state write (the one with its intent), not two", async () => {
    const dir = tempDir();
    const writes: string[] = [];
    let writesWhenActing = -1;
    const { a, b } = await start(await setup(dir), {
      writeFile: async (_path, data) => {
        writes.push(data);
        await sleep(30);
      },
      runAction: async () => {
        writesWhenActing = writes.length;
        return { ok: true, kind: "exec", durationMs: 0, output: "" };
      },
    });
    for (let i = 0; i < 3; i++) b.send(1);
    await sleep(150);
    const n0 = writes.length;
    for (let i = 0; i < 3; i++) a.send(0);
    await until(() => writesWhenActing >= 0);
    expect(writesWhenActing).toBe(n0 + 1);
    expect(JSON.parse(writes[n0]!).groups.uplink.intents).toHaveLength(1);
  });

  it("the event log keeps the order of events across batches and has them all at stop", async () => {
    const dir = tempDir();
    const { d, a, b, events } = await start(await setup(dir));
    for (let i = 0; i < 20; i++) {
      a.send(i % 4 === 0 ? 1 : 0);
      b.send(1);
    }
    await d.stop();
    const logged = lines(join(dir, "state", "events.jsonl")).map((l) => JSON.parse(l));
    expect(logged).toEqual(events);
    expect(existsSync(join(dir, "state", "metrics.prom"))).toBe(true);
  });
});

/**
 * The daemon's fleet glue (src/daemon/fleet.ts) against a fake Fleet: a new leader carries on from the state in
 * etcd and finishes an intent left behind; a switch decided by a deposed leader is not carried out; a fencing
 * check that etcd does not answer is tried again while this instance still leads (a switch is not left half-done
 * by a hiccup), and given up once the lead is gone. Against a real etcd: test/integration/fleet-*.test.ts.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { Fleet, SharedStateValue } from "../../../src/cluster/fleet.js";
import type { Config } from "../../../src/config/schema.js";
import { FleetGlue, type FleetHost } from "../../../src/daemon/fleet.js";
import type { SwitchIntent } from "../../../src/daemon/state.js";
import type { StandbyEvent } from "../../../src/groups/events.js";
import type { GroupSpec } from "../../../src/groups/types.js";
import { type Output, Pipeline } from "../../../src/pipeline.js";
import { group, quietLog } from "../../helpers.js";

class FakeFleet extends EventEmitter {
  readonly name = "me";
  readonly ttlMs = 2000;
  leads = false;
  fenceNow: string | undefined;
  stored: SharedStateValue | undefined;
  checks = 0;
  /** Throw this many times before answering a fencing check. */
  checkFailures = 0;
  checkAnswer = true;
  votes = { views: () => [] };
  lease = { lastError: undefined };
  decides(): boolean {
    return this.leads;
  }
  fence(): string | undefined {
    return this.leads ? this.fenceNow : undefined;
  }
  leader(): string | undefined {
    return this.leads ? "me" : "other";
  }
  publish(): void {}
  verdict() {
    return {
      health: "healthy" as const,
      reason: "1 of 1 observers: healthy",
      observers: 1,
      needed: 1,
      tally: { healthy: 1, degraded: 0, unhealthy: 0, unknown: 0 },
      unhealthyBy: [],
    };
  }
  async readState(): Promise<SharedStateValue | undefined> {
    return this.stored;
  }
  cachedState(): SharedStateValue | undefined {
    return this.stored;
  }
  async writeState(_g: string, fence: string, v: SharedStateValue): Promise<boolean> {
    if (fence !== this.fence()) return false;
    this.stored = v;
    return true;
  }
  async checkFence(): Promise<boolean> {
    this.checks++;
    if (this.checkFailures-- > 0) throw new Error("deadline exceeded");
    return this.checkAnswer;
  }
  recheck(): void {}
  election() {
    return undefined;
  }
}

function setup() {
  const spec: GroupSpec = {
    ...group({ name: "vip", members: ["r1", "r2"], mode: "manual" }),
    scope: "shared",
  };
  const config = { host: "me", cluster: {}, groups: [spec], collectors: [] } as unknown as Config;
  const pipeline = new Pipeline([], [spec], 0);
  const fake = new FakeFleet();
  const events: StandbyEvent[] = [];
  const resumed: { intents: readonly SwitchIntent[]; fence: string }[] = [];
  let now = 1000;
  const clock = { mono: () => now, wall: () => 1_700_000_000_000 + now };
  const host: FleetHost = {
    log: quietLog,
    clock,
    wallClock: { mono: () => 0, wall: () => 1_700_000_000_000 },
    config: () => config,
    pipeline: () => pipeline,
    intents: () => [],
    resume: (_g, intents, fence) => resumed.push({ intents, fence }),
    handle: (out: Output) => events.push(...out.events),
    runCommand: async () => ({ ok: true, events: [] }),
  };
  return { spec, pipeline, fake, events, resumed, host, tick: (ms: number) => (now += ms) };
}

async function glueOf(s: ReturnType<typeof setup>): Promise<FleetGlue> {
  const glue = (await FleetGlue.create(s.host, s.fake as unknown as Fleet))!;
  s.pipeline.shared = glue;
  return glue;
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe("fleet glue", () => {
  it("a new leader carries on from etcd's state and finishes the intent left behind under its own token", async () => {
    const s = setup();
    const glue = await glueOf(s);
    s.fake.stored = {
      leader: "old",
      fence: "5",
      state: { active: "r2", since: 1_700_000_000_000, switches: [], hold: 30_000, excluded: {} },
      intent: { from: "r1", to: "r2", kind: "failover", reason: "r1 unhealthy", fence: "5" },
      savedAt: 0,
    };
    expect(glue.decides("vip")).toBe(false);
    s.fake.leads = true;
    s.fake.fenceNow = "9";
    s.fake.emit("elected", "vip", "9");
    await settle();
    expect(glue.decides("vip")).toBe(true);
    expect(s.pipeline.groupState("vip")!.active).toBe("r2");
    expect(s.resumed).toEqual([
      { intents: [{ from: "r1", to: "r2", kind: "failover", reason: "r1 unhealthy" }], fence: "9" },
    ]);
    const e = s.events.find((x) => x.kind === "leader_elected") as { fence: string; reason: string };
    expect(e.fence).toBe("9");
    expect(e.reason).toMatch(/previous leader old.*active r2.*finishing the failover r1 → r2/);
  });

  it("a switch decided by an instance that no longer leads is not carried out: switch_fenced", async () => {
    const s = setup();
    const glue = await glueOf(s);
    const order = glue.order({ group: "vip", from: "r1", to: "r2", kind: "failover", reason: "x" });
    expect(order).toBeUndefined();
    expect(s.events.map((e) => e.kind)).toEqual(["switch_fenced"]);
  });

  it("a fencing check etcd does not answer is tried again while this instance leads, refused once it does not", async () => {
    const s = setup();
    const glue = await glueOf(s);
    s.fake.leads = true;
    s.fake.fenceNow = "9";
    s.fake.emit("elected", "vip", "9");
    await settle();
    s.fake.checkFailures = 2;
    expect(await glue.check("vip", "9")).toBeUndefined();
    expect(s.fake.checks).toBe(3);
    // etcd answers no: refused at once.
    s.fake.checkAnswer = false;
    expect(await glue.check("vip", "9")).toMatch(/fencing token 9 refused by etcd/);
    // etcd does not answer and the lead is lost meanwhile: given up with the error.
    s.fake.checkAnswer = true;
    s.fake.checkFailures = 100;
    const pending = glue.check("vip", "9");
    await new Promise((r) => setTimeout(r, 150));
    s.fake.leads = false;
    expect(await pending).toMatch(/etcd did not answer the fencing check \(deadline exceeded\)/);
    expect(s.fake.checks).toBeLessThan(20);
  });
});

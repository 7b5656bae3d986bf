/**
 * The ipmi collector against a real BMC: OpenIPMI's ipmi_sim read over lanplus by the real ipmitool. Needs
 * openipmi and ipmitool (scripts/test-deps.sh); under CI=true their absence fails the run instead of skipping.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Scheduler } from "../../../src/daemon/scheduler.js";
import type { Sample } from "../../../src/engine/types.js";
import { quietLog } from "../../../test/helpers.js";
import { failInCiWhenMissing } from "../../../test/peers/ci.js";
import { type IpmiCollectorSpec, schema } from "../config.js";
import { IpmiCollector } from "../index.js";
import { IpmiSim, PASSWORD, simMissing, USER } from "./sim.js";

const missing = simMissing();
failInCiWhenMissing("ipmi collector against ipmi_sim", missing);

const ENV = "SB_TEST_BMC_PASSWORD";
const sim = new IpmiSim();
const dir = mkdtempSync(join(tmpdir(), "sb-ipmi-"));
/** Every ipmitool command line the collector ran, recorded by a wrapper before it execs the real one. */
const ARGV_LOG = join(dir, "argv.log");
const WRAPPER = join(dir, "ipmitool");

function spec(extra: Record<string, unknown> = {}): IpmiCollectorSpec {
  return schema.parse({
    name: "bmc",
    type: "ipmi",
    interval: "1s",
    timeout: "3s",
    ipmitool: WRAPPER,
    target: { host: "127.0.0.1", port: sim.port, user: USER, password: { env: ENV }, cipher_suite: 3 },
    ...extra,
  });
}

let clock = 0;
const ctx = { host: "h", now: () => ++clock, log: quietLog };

function states(samples: readonly Sample[]): Record<string, string | undefined> {
  return Object.fromEntries(
    samples.filter((s) => s.metric === "ipmi.sensor").map((s) => [s.labels.sensor, s.state]),
  );
}
const up = (samples: readonly Sample[]) => samples.find((s) => s.metric === "ipmi.up")?.value;

describe.skipIf(missing !== undefined)("ipmi collector against ipmi_sim", () => {
  beforeAll(async () => {
    process.env[ENV] = PASSWORD;
    writeFileSync(WRAPPER, `#!/bin/sh\necho "$*" >> ${ARGV_LOG}\nexec ipmitool "$@"\n`);
    chmodSync(WRAPPER, 0o755);
    await sim.start();
  }, 20_000);
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads every sensor over lanplus; the password reaches ipmitool only through its environment", async () => {
    const c = new IpmiCollector(spec(), ctx);
    try {
      const first = await c.collect(new AbortController().signal);
      expect(up(first)).toBe(1);
      expect(states(first)).toEqual({
        "CPU Temp": "ok",
        FAN1: "ok",
        FAN2: "ok",
        "PSU1 Status": "ok",
        "PSU2 Status": "ok",
        "PS Redundancy": "ok",
        "Inlet Temp": "unknown",
        "Exhaust Temp": "unknown",
      });
      const psu = first.find((s) => s.labels.sensor === "PSU2 Status")!;
      expect(psu.labels).toEqual({
        host: "h",
        collector: "bmc",
        bmc: `127.0.0.1:${sim.port}`,
        sensor: "PSU2 Status",
        kind: "psu",
      });
      const readings = first.filter((s) => s.metric === "ipmi.reading");
      expect(readings.map((s) => [s.labels.sensor, s.labels.unit, s.value])).toEqual([
        ["CPU Temp", "degrees C", 45],
        ["FAN1", "RPM", 5400],
        ["FAN2", "RPM", 5600],
      ]);
      // The BMC answered: the next poll reads the SDR cache (`sdr dump`) and uses it (-S); later polls are one call.
      const second = await c.collect(new AbortController().signal);
      expect(states(second)).toEqual(states(first));
      await c.collect(new AbortController().signal);
      const calls = readFileSync(ARGV_LOG, "utf8").trim().split("\n");
      expect(calls).toHaveLength(4);
      expect(calls[0]).toMatch(/ -R 1 sdr elist$/);
      expect(calls[1]).toMatch(/ sdr dump \S+$/);
      expect(calls[2]).toMatch(/ -S \S+ sdr elist$/);
      expect(calls[3]).toMatch(/ -S \S+ sdr elist$/);
      expect(calls.every((l) => !l.includes(PASSWORD) && l.includes(" -E "))).toBe(true);
    } finally {
      await c.close();
    }
  }, 20_000);

  it("PSU 2 failed and redundancy lost at runtime, then restored", async () => {
    const c = new IpmiCollector(spec(), ctx);
    try {
      await sim.failPsu2();
      const failed = states(await c.collect(new AbortController().signal));
      expect([failed["PSU1 Status"], failed["PSU2 Status"], failed["PS Redundancy"]]).toEqual([
        "ok",
        "failed",
        "failed",
      ]);
      await sim.restorePsu2();
      const back = states(await c.collect(new AbortController().signal));
      expect([back["PSU2 Status"], back["PS Redundancy"]]).toEqual(["ok", "ok"]);
      // Pulled: its presence bit cleared, the sensor asserts nothing — absent, because it was present before.
      await sim.console("sensor_set_bit 0x20 0 5 0 0 1");
      const pulled = states(await c.collect(new AbortController().signal));
      expect(pulled["PSU2 Status"]).toBe("absent");
      await sim.console("sensor_set_bit 0x20 0 5 0 1 1");
      expect(states(await c.collect(new AbortController().signal))["PSU2 Status"]).toBe("ok");
    } finally {
      await sim.restorePsu2();
      await c.close();
    }
  }, 20_000);

  it("never shows the password on a command line while it polls", async () => {
    const c = new IpmiCollector(spec({ sdr_cache: false }), ctx);
    let seen = 0;
    let leaked = "";
    const scan = setInterval(() => {
      for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
        let cmd = "";
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\0", " ");
        } catch {
          continue;
        }
        if (!cmd.includes(`-p ${sim.port}`) || !cmd.includes("sdr")) continue;
        seen++;
        if (cmd.includes(PASSWORD)) leaked = cmd;
      }
    }, 5);
    try {
      for (let i = 0; i < 10; i++) await c.collect(new AbortController().signal);
    } finally {
      clearInterval(scan);
      await c.close();
    }
    expect(seen).toBeGreaterThan(0);
    expect(leaked).toBe("");
  }, 30_000);

  it("a BMC that stops answering: ipmi.up 0 and its sensors unknown within one timeout, no ipmitool pile-up", async () => {
    const s = spec({ interval: "300ms", timeout: "2500ms" });
    const c = new IpmiCollector(s, ctx);
    const got: Sample[][] = [];
    const sched = new Scheduler((_n, samples) => got.push(samples), quietLog);
    let most = 0;
    const count = setInterval(() => {
      const r = spawnSync("pgrep", ["-f", "--", `-p ${sim.port} `]);
      most = Math.max(most, r.stdout.toString().trim().split("\n").filter(Boolean).length);
    }, 50);
    try {
      sched.add(c);
      const end = Date.now() + 5000;
      while (!got.some((g) => up(g) === 1) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(got.some((g) => up(g) === 1)).toBe(true);
      const stopped = Date.now();
      await sim.stop();
      while (!got.some((g) => up(g) === 0) && Date.now() - stopped < 10_000)
        await new Promise((r) => setTimeout(r, 50));
      const down = got.find((g) => up(g) === 0)!;
      // One poll that was running when the BMC went, then one timeout at most.
      expect(Date.now() - stopped).toBeLessThan(2 * 2500 + 1000);
      expect(Object.values(states(down)).every((st) => st === "unknown")).toBe(true);
      expect(Object.keys(states(down))).toHaveLength(8);
      // The BMC stays dead for several intervals: polls keep failing, never more than one ipmitool at a time.
      const polls = got.length;
      await new Promise((r) => setTimeout(r, 4000));
      expect(got.length).toBeGreaterThan(polls);
      expect(got.slice(polls).every((g) => up(g) === 0)).toBe(true);
    } finally {
      clearInterval(count);
      await sched.close();
      await sim.start();
    }
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(1);
    // And it answers again once the BMC is back.
    const back = await c.collect(new AbortController().signal);
    expect(up(back)).toBe(1);
    expect(states(back)["PSU1 Status"]).toBe("ok");
    await c.close();
  }, 40_000);
});

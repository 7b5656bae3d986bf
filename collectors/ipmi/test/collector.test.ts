/**
 * The ipmi collector with scripts standing in for ipmitool: what users do to check a capture from their own
 * hardware (`ipmitool: ./print-capture.sh` with `standby collect --once --json`), and the failure paths a real
 * BMC rarely shows on demand (an error exit, a tool that hangs, two blocks polling one BMC).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { runCollect } from "../../../src/cli/commands/collect.js";
import { memoryIo } from "../../../src/cli/io.js";
import type { Sample } from "../../../src/engine/types.js";
import { collectorContext } from "../../../test/helpers.js";
import { type IpmiCollectorSpec, schema } from "../config.js";
import { callBudget, IpmiCollector, type Ipmitool } from "../index.js";

const dir = mkdtempSync(join(tmpdir(), "sb-ipmi-c-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const VENDORS = resolve(import.meta.dirname, "../testcases/vendors");

/** A script standing in for ipmitool: logs its argv, then runs `body`. */
function tool(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho "$*" >> ${file}.argv\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

function spec(ipmitool: string, extra: Record<string, unknown> = {}): IpmiCollectorSpec {
  return schema.parse({ name: "bmc", type: "ipmi", interval: "5s", timeout: "4s", ipmitool, ...extra });
}

const context = () => collectorContext(() => 1000, "h");

const run = (c: IpmiCollector) => c.collect(new AbortController().signal);
const up = (s: readonly Sample[]) => s.find((x) => x.metric === "ipmi.up")?.value;

describe("ipmi collector with a script for ipmitool", () => {
  it("reports a capture's sensors; a repeated name gets the entity that tells the sensors apart", async () => {
    const t = tool("dell", `cat ${VENDORS}/dell-r740-datakit-sdr-elist.txt`);
    const { ctx } = context();
    const c = new IpmiCollector(spec(t), ctx);
    const s = await run(c);
    expect(up(s)).toBe(1);
    const psuStatus = s.filter((x) => x.metric === "ipmi.sensor" && x.labels.kind === "psu");
    expect(psuStatus.map((x) => [x.labels.sensor, x.labels.entity, x.state])).toContainEqual([
      "Status",
      "10.1",
      "ok",
    ]);
    // Each series its own label set: no two samples of a metric share one.
    for (const m of ["ipmi.sensor", "ipmi.reading"]) {
      const keys = s.filter((x) => x.metric === m).map((x) => JSON.stringify(x.labels));
      expect(new Set(keys).size).toBe(keys.length);
    }
    const temp = s.find((x) => x.metric === "ipmi.reading" && x.labels.sensor === "Inlet Temp");
    expect(temp).toMatchObject({
      value: 23,
      labels: { unit: "degrees C", kind: "temperature", bmc: "local" },
    });
    // A script writes no SDR cache: it is asked once (`sdr dump`, after the first poll was answered), then never
    // again; no -S for a file that is not there.
    await run(c);
    await run(c);
    const argv = readFileSync(`${t}.argv`, "utf8").trim().split("\n");
    expect(argv).toEqual(["sdr elist", expect.stringMatching(/^sdr dump /), "sdr elist", "sdr elist"]);
    // The same label objects every poll (the engine's identity cache).
    const again = await run(c);
    expect(again.find((x) => x.labels.sensor === "Inlet Temp")?.labels).toBe(
      s.find((x) => x.labels.sensor === "Inlet Temp")?.labels,
    );
    await c.close();
  });

  it("a failing BMC: ipmi.up 0, the sensors it had reported unknown, the error logged once, no password", async () => {
    const t = tool(
      "flaky",
      `if [ -e ${dir}/flaky.fail ]; then echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1; fi\ncat ${VENDORS}/../sim-ok.sdr-elist.txt`,
    );
    process.env.SB_TEST_IPMI_PW = "hunter2-secret";
    const { ctx, logged } = context();
    const target = { host: "10.0.0.5", user: "admin", password: { env: "SB_TEST_IPMI_PW" } };
    const c = new IpmiCollector(spec(t, { target, sdr_cache: false }), ctx);
    expect(up(await run(c))).toBe(1);
    writeFileSync(`${dir}/flaky.fail`, "");
    const down = await run(c);
    expect(up(down)).toBe(0);
    const sensors = down.filter((x) => x.metric === "ipmi.sensor");
    expect(sensors).toHaveLength(8);
    expect(sensors.every((x) => x.state === "unknown" && x.value === -1)).toBe(true);
    await run(c);
    const warns = logged.filter((l) => l.level === "warn");
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.obj.err)).toBe(
      `${t} sdr elist: exit 1: Error: Unable to establish IPMI v2 / RMCP+ session`,
    );
    rmSync(`${dir}/flaky.fail`);
    expect(up(await run(c))).toBe(1);
    expect(logged.at(-1)?.msg).toBe("BMC answers again: ipmi.up 1");
    const argv = readFileSync(`${t}.argv`, "utf8");
    expect(argv).toContain("-I lanplus -H 10.0.0.5 -U admin -E -N 1 -R 1 sdr elist");
    expect(argv + JSON.stringify(logged)).not.toContain("hunter2");
    await c.close();
  });

  it("a BMC that never answers costs one call a poll: the SDR cache is read only from a BMC that answered", async () => {
    const t = tool("dead", `echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2\nexit 1`);
    const { ctx } = context();
    const c = new IpmiCollector(spec(t), ctx);
    for (let i = 0; i < 3; i++) expect(up(await run(c))).toBe(0);
    expect(readFileSync(`${t}.argv`, "utf8").trim().split("\n")).toEqual([
      "sdr elist",
      "sdr elist",
      "sdr elist",
    ]);
    await c.close();
  });

  it("an ipmitool that does not exist, or a password that cannot be read, is ipmi.up 0 with the reason", async () => {
    const { ctx, logged } = context();
    const c = new IpmiCollector(spec(join(dir, "nope")), ctx);
    expect(up(await run(c))).toBe(0);
    expect(String(logged[0]?.obj.err)).toBe(`${join(dir, "nope")} sdr elist: no such file`);
    const target = { host: "b", user: "u", password: { env: "SB_TEST_IPMI_UNSET" } };
    const d = new IpmiCollector(spec(tool("x", "true"), { target }), ctx);
    expect(up(await run(d))).toBe(0);
    expect(String(logged.at(-1)?.obj.err)).toContain("environment variable SB_TEST_IPMI_UNSET is not set");
  });

  it("a hung ipmitool is killed within the run's budget, in time to report ipmi.up 0", async () => {
    const t = tool("hang", `trap "" TERM\nsleep 30`);
    const { ctx } = context();
    const c = new IpmiCollector(spec(t, { timeout: "3s", sdr_cache: false }), ctx);
    const t0 = performance.now();
    const s = await run(c);
    const took = performance.now() - t0;
    expect(up(s)).toBe(0);
    // SIGTERM at the budget, SIGKILL a second later (it ignores SIGTERM): before the 3 s timeout.
    expect(took).toBeGreaterThanOrEqual(callBudget(3000));
    expect(took).toBeLessThan(3000);
  });

  it("two blocks polling one BMC never run two ipmitools for it at once", async () => {
    const t = tool("slow", `sleep 1\ncat ${VENDORS}/../sim-ok.sdr-elist.txt`);
    const { ctx, logged } = context();
    const target = { host: "10.9.9.9", user: "u", password: "p" };
    const a = new IpmiCollector(spec(t, { target, sdr_cache: false }), ctx);
    const b = new IpmiCollector(spec(t, { target, sdr_cache: false, name: "bmc2" }), ctx);
    const [ra, rb] = await Promise.all([run(a), run(b)]);
    expect([up(ra), up(rb)]).toEqual([1, 0]);
    expect(String(logged.at(-1)?.obj.err)).toMatch(/^the previous ipmitool for this BMC is still running/);
    expect(up(await run(b))).toBe(1);
  });

  it("standby collect --once --json prints the samples of a capture", async () => {
    tool("capture", `cat ${VENDORS}/hpe-dl360g7-collegeboreal-sdr-elist-full.txt`);
    const config = join(dir, "standby.yaml");
    writeFileSync(
      config,
      `host: t\nstate_dir: ${join(dir, "state")}\ncollectors:\n  - {name: bmc, type: ipmi, ipmitool: ./capture}\n`,
    );
    const io = memoryIo();
    expect(await runCollect({ config, streamMs: 0, json: true }, io)).toBe(0);
    const samples = io.stdout.map((l) => JSON.parse(l) as Sample);
    expect(samples).toContainEqual(
      expect.objectContaining({
        metric: "ipmi.sensor",
        labels: { host: "t", collector: "bmc", bmc: "local", sensor: "Power Supply 1", kind: "psu" },
        value: 2,
        state: "failed",
      }),
    );
    expect(samples).toContainEqual(
      expect.objectContaining({
        metric: "ipmi.sensor",
        labels: { host: "t", collector: "bmc", bmc: "local", sensor: "Power Supplies", kind: "redundancy" },
        state: "failed",
      }),
    );
  });
});

describe("ipmi collector on whatever ipmitool prints", () => {
  it("random and truncated output never throws out of collect; every state is a component state", async () => {
    const captures = ["dell-r740-datakit-sdr-elist.txt", "hpe-dl380g5-rubyipmi-sensor.txt"].map((f) =>
      readFileSync(join(VENDORS, f), "utf8"),
    );
    let stdout = "";
    const fake = { bmc: "b", poll: async () => ({ ok: true, stdout, durationMs: 1 }), close: async () => {} };
    const { ctx } = context();
    const c = new IpmiCollector(spec("unused"), ctx, fake as unknown as Ipmitool);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 300 }),
          fc.tuple(fc.nat(1), fc.nat()).map(([i, cut]) => captures[i]!.slice(0, cut % captures[i]!.length)),
          fc
            .array(
              fc.constantFrom("|", " ", "0x", "ok", "ns", "10.1", "Presence detected", "\n", "RPM", "1"),
              {
                maxLength: 60,
              },
            )
            .map((a) => a.join("")),
        ),
        async (text) => {
          stdout = text;
          const samples = await run(c);
          for (const x of samples.filter((y) => y.metric === "ipmi.sensor"))
            expect(["ok", "warning", "failed", "absent", "unknown"]).toContain(x.state);
        },
      ),
      { numRuns: 300 },
    );
  });
});

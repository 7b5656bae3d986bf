import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { CollectorContext } from "../../../src/collector.js";
import type { Sample } from "../../../src/engine/types.js";
import { type SmartCollectorSpec, schema } from "../config.js";
import { createSmartCollector, RESCAN_MS, type SmartPollCollector } from "../index.js";
import { context, type Fake, type FakeDevice, fakeSmartctl, fixture, TS } from "./fake.js";

const fakes: Fake[] = [];
afterEach(() => {
  for (const f of fakes.splice(0)) f.cleanup();
});

function setup(
  opts: { scan?: FakeDevice; devices: Record<string, FakeDevice> },
  block: Record<string, unknown>,
  now?: () => number,
): {
  c: SmartPollCollector;
  fake: Fake;
  logged: ReturnType<typeof context>["logged"];
  ctx: CollectorContext;
} {
  const fake = fakeSmartctl(opts);
  fakes.push(fake);
  const spec: SmartCollectorSpec = schema.parse({
    name: "disks",
    type: "smart",
    smartctl: fake.path,
    ...block,
  });
  const { ctx, logged } = context(now);
  return { c: createSmartCollector(spec, ctx), fake, logged, ctx };
}

const run = (c: SmartPollCollector) => c.collect(new AbortController().signal);
const base = { host: "web-01", collector: "disks" };
const brief = (samples: Sample[]) =>
  samples.map(
    (s) => `${s.metric} ${s.labels.device} ${s.labels.type} ${s.value}${s.state ? ` ${s.state}` : ""}`,
  );

describe("smart collector with a fake smartctl", () => {
  it("reads each listed device with -n standby and -d, and emits exactly the samples of its capture", async () => {
    const { c, fake, logged } = setup(
      {
        devices: {
          "|/dev/sdc": { file: "ata-failing.json", exit: 216 },
          "megaraid,0|/dev/bus/0": { file: "ata-megaraid0.json", exit: 4 },
          "megaraid,1|/dev/bus/0": { file: "scsi-megaraid1.json" },
          "nvme|/dev/nvme0": { file: "nvme-media-errors.json" },
        },
      },
      {
        devices: [
          "/dev/sdc",
          { device: "/dev/bus/0", type: "megaraid,0" },
          { device: "/dev/bus/0", type: "megaraid,1" },
          { device: "/dev/nvme0", type: "nvme" },
        ],
      },
    );
    expect([c.kind, c.name, c.interval, c.spec.timeout]).toEqual(["poll", "disks", 600_000, 30_000]);
    const samples = await run(c);
    const sdc = { ...base, device: "/dev/sdc", type: "usbjmicron", protocol: "ATA" };
    const mr0 = { ...base, device: "/dev/bus/0", type: "megaraid,0", protocol: "ATA" };
    const mr1 = { ...base, device: "/dev/bus/0", type: "megaraid,1", protocol: "SCSI" };
    const nvme = { ...base, device: "/dev/nvme0", type: "nvme", protocol: "NVMe" };
    expect(samples).toEqual([
      { metric: "smart.health", labels: sdc, value: 2, state: "failed", ts: TS },
      { metric: "smart.temperature_c", labels: sdc, value: 25, ts: TS },
      { metric: "smart.reallocated_sectors", labels: sdc, value: 1975, ts: TS },
      { metric: "smart.pending_sectors", labels: sdc, value: 8, ts: TS },
      { metric: "smart.health", labels: mr0, value: 0, state: "ok", ts: TS },
      { metric: "smart.temperature_c", labels: mr0, value: 36, ts: TS },
      { metric: "smart.reallocated_sectors", labels: mr0, value: 0, ts: TS },
      { metric: "smart.pending_sectors", labels: mr0, value: 0, ts: TS },
      { metric: "smart.health", labels: mr1, value: 0, state: "ok", ts: TS },
      { metric: "smart.temperature_c", labels: mr1, value: 31, ts: TS },
      { metric: "smart.reallocated_sectors", labels: mr1, value: 0, ts: TS },
      { metric: "smart.media_errors", labels: mr1, value: 0, ts: TS },
      { metric: "smart.health", labels: nvme, value: 0, state: "ok", ts: TS },
      { metric: "smart.temperature_c", labels: nvme, value: 35, ts: TS },
      { metric: "smart.media_errors", labels: nvme, value: 7, ts: TS },
      { metric: "smart.percentage_used", labels: nvme, value: 3, ts: TS },
    ]);
    expect(fake.calls().sort()).toEqual([
      "-j -a -n standby -d megaraid,0 /dev/bus/0",
      "-j -a -n standby -d megaraid,1 /dev/bus/0",
      "-j -a -n standby -d nvme /dev/nvme0",
      "-j -a -n standby /dev/sdc",
    ]);
    // The exit status bits are logged: a warning for the failing disk, info for bit 2.
    const bits = logged.filter((l) => l.msg?.includes("smartctl exit"));
    expect(bits.map((l) => [l.level, l.msg])).toEqual(
      expect.arrayContaining([
        [
          "warn",
          "smart disks: /dev/sdc: smartctl exit 216: SMART status: disk failing (bit 3), prefail attributes at or below threshold (bit 4), the device error log has errors (bit 6), the self-test log has errors (bit 7)",
        ],
        [
          "info",
          "smart disks: /dev/bus/0 (-d megaraid,0): smartctl exit 4: a SMART or other command to the disk failed, or a SMART data checksum error (bit 2)",
        ],
      ]),
    );
    expect(bits).toHaveLength(2);
    expect(c.errors.size).toBe(0);

    // Again: the same label objects (one per series), and nothing logged twice.
    const again = await run(c);
    expect(again).toHaveLength(samples.length);
    for (const [i, s] of again.entries()) expect(s.labels).toBe(samples[i]!.labels);
    expect(logged.filter((l) => l.msg?.includes("smartctl exit"))).toHaveLength(2);
  });

  it("wake: true reads sleeping disks (no -n standby)", async () => {
    const { c, fake } = setup(
      { devices: { "|/dev/sdb": { file: "scsi-sas.json" } } },
      { devices: ["/dev/sdb"], wake: true },
    );
    expect(brief(await run(c))).toContain("smart.health /dev/sdb scsi 0 ok");
    expect(fake.calls()).toEqual(["-j -a /dev/sdb"]);
  });

  it("a hanging smartctl is killed at the timeout; the other devices are still reported", async () => {
    const { c, logged } = setup(
      {
        devices: {
          "|/dev/hang": { hang: true, file: "scsi-sas.json" },
          "|/dev/sdb": { file: "scsi-sas.json" },
          "|/dev/sdd": { file: "nvme-healthy.json" },
        },
      },
      { devices: ["/dev/hang", "/dev/sdb", "/dev/sdd"], timeout: "500ms" },
    );
    const t0 = performance.now();
    const samples = await run(c);
    expect(performance.now() - t0).toBeLessThan(4000);
    expect([...new Set(samples.map((s) => s.labels.device))]).toEqual(["/dev/sdb", "/dev/sdd"]);
    expect(c.errors).toEqual(new Map([["timeout /dev/hang", 1]]));
    const warn = logged.filter((l) => l.level === "warn");
    expect(warn.map((l) => l.msg)).toEqual([
      "smart disks: /dev/hang: timed out after 500ms, killed; no samples for it this time",
    ]);
    expect(warn[0]!.obj.device).toBe("/dev/hang");
  });

  it("never runs more than two smartctl at once", async () => {
    const devices: Record<string, FakeDevice> = {};
    for (const d of ["a", "b", "c", "d", "e"])
      devices[`|/dev/sd${d}`] = { file: "scsi-sas.json", delay: 0.2 };
    const { c, fake } = setup({ devices }, { devices: Object.keys(devices).map((k) => k.slice(1)) });
    const samples = await run(c);
    expect(new Set(samples.map((s) => s.labels.device)).size).toBe(5);
    let running = 0;
    let most = 0;
    for (const e of fake.events()) {
      running += e.startsWith("start") ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(fake.events()).toHaveLength(10);
    expect(most).toBe(2);
  });

  it("malformed output: no samples for that device, counted every time, logged once", async () => {
    const truncated = fixture("nvme-healthy.json").slice(0, 700);
    const { c, logged } = setup(
      { devices: { "|/dev/bad": { text: truncated }, "|/dev/sdb": { file: "scsi-sas.json" } } },
      { devices: ["/dev/bad", "/dev/sdb"] },
    );
    for (let i = 0; i < 3; i++) {
      const samples = await run(c);
      expect(samples.every((s) => s.labels.device === "/dev/sdb")).toBe(true);
      expect(samples).toHaveLength(4);
    }
    expect(c.errors).toEqual(new Map([["invalid /dev/bad", 3]]));
    expect(logged.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
      "smart disks: /dev/bad: unreadable output: not a JSON object (truncated or not smartctl -j output); no samples for it this time",
    ]);
  });

  it("open failures (bits 0–1) give no samples and a warning; a disk in standby an info line", async () => {
    const { c, logged } = setup(
      {
        devices: {
          "|/dev/sda": { file: "open-failed.json", exit: 2 },
          "sat|/dev/sdb": { file: "standby.json", exit: 2 },
        },
      },
      { devices: ["/dev/sda", { device: "/dev/sdb", type: "sat" }, "/dev/vda"] },
    );
    expect(await run(c)).toEqual([]);
    expect(c.standby).toEqual(new Map([["/dev/sdb", 1]]));
    expect(c.errors).toEqual(
      new Map([
        ["no-data /dev/sda", 1],
        ["no-data /dev/vda", 1],
      ]),
    );
    // Two at a time: the order of the lines is not fixed.
    expect(logged.map((l) => `${l.level} ${l.msg}`).sort()).toEqual([
      "info smart disks: /dev/sdb (-d sat) is in standby; not woken up (wake: false), no samples until it spins up",
      "warn smart disks: /dev/sda: no data: Smartctl open device: /dev/sda failed: \\\\.\\PhysicalDrive0: Open failed, Error=5 (exit 2: device open failed, or the device is in a low-power mode (bit 1)); no samples for it this time",
      "warn smart disks: /dev/vda: no data: /dev/vda: Unable to detect device type (exit 1: command line did not parse (bit 0)); no samples for it this time",
    ]);
  });

  it("a smartctl that does not exist fails the run with a clear error", async () => {
    const { ctx } = context();
    const spec = schema.parse({
      name: "disks",
      type: "smart",
      smartctl: "/nonexistent/smartctl",
      devices: ["/dev/sda"],
    });
    const c = createSmartCollector(spec, ctx);
    await expect(run(c)).rejects.toThrow(
      'smart disks: cannot run smartctl "/nonexistent/smartctl": no such file; install smartmontools (7.0 or later, for -j) or set `smartctl:` to its path',
    );
    // Discovery too.
    const d = createSmartCollector(
      schema.parse({ name: "disks", type: "smart", smartctl: "/nonexistent/smartctl" }),
      ctx,
    );
    await expect(run(d)).rejects.toThrow(/cannot run smartctl .*no such file/);
  });
});

describe("discovery", () => {
  it("reads what smartctl --scan -j finds, with its -d types; rescans hourly and after an open failure", async () => {
    let now = TS;
    const { c, fake, logged } = setup(
      {
        scan: { file: "scan-megaraid.json" },
        devices: {
          "megaraid,0|/dev/bus/0": { file: "ata-megaraid0.json", exit: 4 },
          "megaraid,1|/dev/bus/0": { file: "scsi-megaraid1.json" },
        },
      },
      {},
      () => now,
    );
    const samples = await run(c);
    expect(brief(samples).filter((s) => s.startsWith("smart.health"))).toEqual([
      "smart.health /dev/bus/0 megaraid,0 0 ok",
      "smart.health /dev/bus/0 megaraid,1 0 ok",
    ]);
    // The scan's type labels the series; the protocol is the device's own (ATA behind a SAS controller).
    expect(samples[0]!.labels).toEqual({
      ...base,
      device: "/dev/bus/0",
      type: "megaraid,0",
      protocol: "ATA",
    });
    expect(logged.map((l) => l.msg)).toContain(
      "smart disks: smartctl --scan found /dev/bus/0 (megaraid,0), /dev/bus/0 (megaraid,1)",
    );
    const scans = () => fake.calls().filter((l) => l === "--scan -j").length;
    expect(scans()).toBe(1);
    now += RESCAN_MS - 1;
    await run(c);
    expect(scans()).toBe(1);
    now += 1;
    await run(c);
    expect(scans()).toBe(2);
  });

  it("a device the scan found that can no longer be opened makes the next poll rescan", async () => {
    const { c, fake } = setup(
      { scan: { file: "scan-simple.json" }, devices: { "scsi|/dev/sda": { file: "scsi-sas.json" } } },
      {},
    );
    await run(c);
    // /dev/sdb ... /dev/sdg answer "Unable to detect device type" (exit 1): no rescan for bit 0 alone.
    expect(fake.calls().filter((l) => l === "--scan -j")).toHaveLength(1);
    const gone = setup(
      {
        scan: { file: "scan-megaraid.json" },
        devices: { "megaraid,0|/dev/bus/0": { file: "open-failed.json", exit: 2 } },
      },
      {},
    );
    await run(gone.c);
    await run(gone.c);
    expect(gone.fake.calls().filter((l) => l === "--scan -j")).toHaveLength(2);
  });

  it("no devices found (this VM): no samples, said once", async () => {
    const { c, logged } = setup({ scan: { file: "local-scan.json" }, devices: {} }, {});
    expect(await run(c)).toEqual([]);
    expect(await run(c)).toEqual([]);
    expect(logged.map((l) => l.msg)).toEqual([
      "smart disks: smartctl --scan found no devices; nothing to read (list them under `devices:`)",
    ]);
  });

  it("a failing scan is counted, logged once, and retried at the next poll", async () => {
    const { c, fake, logged } = setup({ scan: { text: "garbage", exit: 1 }, devices: {} }, {});
    expect(await run(c)).toEqual([]);
    expect(await run(c)).toEqual([]);
    expect(fake.calls()).toEqual(["--scan -j", "--scan -j"]);
    expect(c.errors).toEqual(new Map([["scan", 2]]));
    expect(logged.filter((l) => l.level === "warn")).toHaveLength(1);
  });
});

describe("fuzz: the collector never throws on what smartctl prints", () => {
  it("random text and truncated captures, with random exit statuses", async () => {
    const captures = ["ata-failing.json", "nvme-healthy.json", "scsi-megaraid1.json"].map(fixture);
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .tuple(fc.constantFrom(...captures), fc.double({ min: 0, max: 1 }))
        .map(([t, f]) => t.slice(0, Math.floor(f * t.length))),
    );
    await fc.assert(
      fc.asyncProperty(text, fc.integer({ min: 0, max: 255 }), async (out, exit) => {
        const { c } = setup({ devices: { "|/dev/x": { text: out, exit } } }, { devices: ["/dev/x"] });
        const samples = await run(c);
        for (const s of samples) {
          expect(Number.isFinite(s.value)).toBe(true);
          expect(s.labels.device).toBe("/dev/x");
        }
        fakes.pop()!.cleanup();
      }),
      { numRuns: 25 },
    );
  });
});

import { readdirSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  describeExitStatus,
  exitBits,
  identityOf,
  parseScan,
  parseSmartctl,
  rawCount,
  type SmartReport,
  samplesOf,
} from "../parse.js";
import { FIX, fixture } from "./fake.js";

interface Expected {
  target: { device: string; type?: string; protocol?: string };
  kind: SmartReport["kind"];
  exit_status: number;
  labels?: Record<string, string>;
  samples: { metric: string; value: number; state?: string }[];
}

const EXPECTED = readdirSync(FIX)
  .filter((f) => f.endsWith(".expected.json"))
  .sort();
const CAPTURES = readdirSync(FIX).filter(
  (f) => f.endsWith(".json") && !f.endsWith(".expected.json") && f !== "biome.json",
);

describe("parseSmartctl on real captures", () => {
  it("has an expected result for every device capture (scans aside)", () => {
    const devices = CAPTURES.filter((f) => !f.includes("scan")).sort();
    expect(EXPECTED.map((f) => f.replace(".expected", ""))).toEqual(devices);
    expect(devices.length).toBeGreaterThanOrEqual(10);
  });

  it.each(EXPECTED)("%s", (file) => {
    const want = JSON.parse(fixture(file)) as Expected;
    const text = fixture(file.replace(".expected", ""));
    // The exit status as the process reports it: the same as the JSON's.
    const report = parseSmartctl(text, want.exit_status);
    expect(report.kind).toBe(want.kind);
    if (report.kind !== "invalid") expect(report.exitStatus).toBe(want.exit_status);
    // Without the process's status (a saved capture), the JSON's own is used: the same verdict.
    expect(parseSmartctl(text)).toEqual(report);
    if (report.kind !== "data") {
      expect(want.samples).toEqual([]);
      return;
    }
    const labels = identityOf(want.target, report.device);
    expect(labels).toEqual(want.labels);
    const got = samplesOf(report.readings, labels, 7).map((s) => {
      expect(s.labels).toBe(labels);
      expect(s.ts).toBe(7);
      return s.state === undefined
        ? { metric: s.metric, value: s.value }
        : { metric: s.metric, value: s.value, state: s.state };
    });
    expect(got).toEqual(want.samples);
  });

  it("bit 3 (disk failing) makes the health failed even when the JSON has no smart_status", () => {
    const attrsOnly = fixture("ata-sat-attributes-only.json");
    const r = parseSmartctl(attrsOnly, 8);
    expect(r.kind === "data" && r.readings.health).toBe("failed");
    // Bit 4 with a passing status: a prefail attribute at its threshold now, a warning.
    const passed = fixture("nvme-healthy.json");
    const w = parseSmartctl(passed, 16);
    expect(w.kind === "data" && w.readings.health).toBe("warning");
    // Bits 5–7 alone (history in the logs) change nothing.
    const h = parseSmartctl(passed, 32 + 64 + 128);
    expect(h.kind === "data" && h.readings.health).toBe("ok");
  });

  it("a disk in standby is told from a device that cannot be opened (both exit 2)", () => {
    expect(parseSmartctl(fixture("standby.json"), 2).kind).toBe("standby");
    const open = parseSmartctl(fixture("open-failed.json"), 2);
    expect(open).toEqual({
      kind: "no-data",
      exitStatus: 2,
      reason: "Smartctl open device: /dev/sda failed: \\\\.\\PhysicalDrive0: Open failed, Error=5",
    });
    // A standby message with exit 0 (`-n standby,0`) cannot be told apart from data: no readings, unknown.
    const zero = parseSmartctl(fixture("standby.json"), 0);
    expect(zero.kind === "data" && zero.readings).toEqual({ health: "unknown" });
  });

  it("no output, or no JSON, with bits 0–1 set is no-data; without them it is invalid", () => {
    expect(parseSmartctl("", 2)).toEqual({
      kind: "no-data",
      exitStatus: 2,
      reason: "exit 2: device open failed, or the device is in a low-power mode (bit 1)",
    });
    expect(parseSmartctl("smartctl: invalid option -- 'j'", 1).kind).toBe("no-data");
    expect(parseSmartctl("", 0)).toEqual({ kind: "invalid", reason: "no output" });
    expect(parseSmartctl("[1,2]", 0).kind).toBe("invalid");
    expect(parseSmartctl('{"a": 1}', 0)).toEqual({
      kind: "invalid",
      reason: "JSON without `smartctl` or `device` (not smartctl -j output)",
    });
  });

  it("SCSI uncorrected errors are the sum of read, write and verify", () => {
    const text = JSON.stringify({
      smartctl: { exit_status: 0 },
      device: { name: "/dev/sdz", type: "scsi", protocol: "SCSI" },
      smart_status: { passed: true },
      scsi_grown_defect_list: 12,
      scsi_error_counter_log: {
        read: { total_uncorrected_errors: 3 },
        write: { total_uncorrected_errors: 1 },
        verify: { total_uncorrected_errors: 5 },
      },
    });
    const r = parseSmartctl(text);
    expect(r.kind === "data" && r.readings).toEqual({
      health: "ok",
      reallocated_sectors: 12,
      media_errors: 9,
    });
  });
});

describe("ATA raw values", () => {
  const attr = (value: unknown, string: unknown) => ({ id: 5, raw: { value, string } });
  it("a plain counter is raw.value", () => {
    expect(rawCount(attr(1975, "1975"))).toBe(1975);
    expect(rawCount(attr(0, "0"))).toBe(0);
    expect(rawCount(attr(42, undefined))).toBe(42);
  });
  it("a packed value is the count smartctl shows first, not the 48-bit raw.value", () => {
    // Real: ata-sat-attributes-only.json, attribute 9 and 196.
    expect(rawCount(attr(167031278144165, "2725 (151 234 0)"))).toBe(2725);
    expect(rawCount(attr(53416508262463, "2111 (12437 0)"))).toBe(2111);
    expect(rawCount(attr(17192124596, "180 (Average 187)"))).toBe(180);
  });
  it("a hex rendering equal to raw.value is raw.value; nonsense is nothing", () => {
    expect(rawCount(attr(255, "0x0000000000ff"))).toBe(255);
    expect(rawCount(attr(-1, "n/a"))).toBeUndefined();
    expect(rawCount(attr("12", {}))).toBeUndefined();
    expect(rawCount(undefined)).toBeUndefined();
  });
});

describe("exit status", () => {
  it("decodes the bits", () => {
    expect(exitBits(216)).toEqual([3, 4, 6, 7]);
    expect(exitBits(0)).toEqual([]);
    expect(describeExitStatus(4)).toBe(
      "exit 4: a SMART or other command to the disk failed, or a SMART data checksum error (bit 2)",
    );
    expect(describeExitStatus(0)).toBe("exit 0");
  });
});

describe("parseScan", () => {
  it("reads the devices of real scans", () => {
    expect(parseScan(fixture("scan-megaraid.json"))).toEqual({
      ok: true,
      devices: [
        { name: "/dev/bus/0", type: "megaraid,0", protocol: "SCSI" },
        { name: "/dev/bus/0", type: "megaraid,1", protocol: "SCSI" },
      ],
    });
    const simple = parseScan(fixture("scan-simple.json"));
    expect(simple.ok && simple.devices.map((d) => d.name)).toEqual([
      "/dev/sda",
      "/dev/sdb",
      "/dev/sdc",
      "/dev/sdd",
      "/dev/sde",
      "/dev/sdf",
      "/dev/sdg",
    ]);
    // This VM: no devices key at all.
    expect(parseScan(fixture("local-scan.json"))).toEqual({ ok: true, devices: [] });
  });
  it("skips entries that would be options or have no name, and duplicates", () => {
    const text = JSON.stringify({
      devices: [
        { name: "-a", type: "sat" },
        { name: "/dev/sda", type: "-x" },
        { type: "sat" },
        { name: "/dev/sdb", type: "sat" },
        { name: "/dev/sdb", type: "sat" },
      ],
    });
    expect(parseScan(text)).toEqual({ ok: true, devices: [{ name: "/dev/sdb", type: "sat" }] });
    expect(parseScan("{").ok).toBe(false);
    expect(parseScan('{"devices": 3}')).toEqual({ ok: false, error: '"devices" is not a list' });
  });
});

describe("fuzz: the parser never throws", () => {
  const captures = CAPTURES.map((f) => fixture(f));
  const kinds = ["data", "standby", "no-data", "invalid"];

  it("random text, with any exit status", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.option(fc.integer({ min: 0, max: 255 })), (t, code) => {
        const r = parseSmartctl(t, code ?? undefined);
        expect(kinds).toContain(r.kind);
        parseScan(t);
      }),
      { numRuns: 500 },
    );
  });

  it("every truncation of every capture is unreadable (or no-data by its exit status), never a wrong reading", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: captures.length - 1 }), fc.double({ min: 0, max: 1 }), (i, f) => {
        const text = captures[i]!.trimEnd();
        const cut = Math.floor(f * (text.length - 1));
        expect(parseSmartctl(text.slice(0, cut), 0).kind).toBe("invalid");
        expect(["invalid", "no-data"]).toContain(parseSmartctl(text.slice(0, cut), 2).kind);
        expect(parseScan(text.slice(0, cut)).ok).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it("any JSON in place of any field of a capture gives finite samples or none", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: captures.length - 1 }),
        fc.nat(),
        fc.jsonValue(),
        fc.integer({ min: 0, max: 255 }),
        (i, k, value, code) => {
          const doc = JSON.parse(captures[i]!) as Record<string, unknown>;
          const keys = Object.keys(doc);
          doc[keys[k % keys.length]!] = value;
          const r = parseSmartctl(JSON.stringify(doc), code);
          if (r.kind !== "data") return;
          for (const s of samplesOf(r.readings, {}, 0)) expect(Number.isFinite(s.value)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

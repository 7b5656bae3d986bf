import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  arrayHealth,
  deviceCounts,
  type MdArray,
  mdState,
  missingNotRebuilt,
  parseMdstat,
} from "../parse.js";

const FIX = join(import.meta.dirname, "../testcases");
const CAPTURES = readdirSync(FIX)
  .filter((f) => f.endsWith(".mdstat"))
  .map((f) => f.slice(0, -".mdstat".length))
  .sort();

/** What a capture's `.expected.json` states of an array: what the collector turns into samples. */
function summary(a: MdArray) {
  return {
    array: a.name,
    level: a.level,
    state: mdState(a),
    health: arrayHealth(a),
    devices: deviceCounts(a),
    ...(a.sync ? { sync_percent: a.sync.percent } : {}),
  };
}

describe("parseMdstat on real captures", () => {
  it("has a capture of every kind listed in SOURCES.md", () => {
    expect(CAPTURES).toEqual([
      "check_raid-failed",
      "check_raid-recovery",
      "check_raid-removed-faulty",
      "check_raid-reshape",
      "check_raid-spare",
      "constructed",
      "node_exporter",
      "node_exporter-invalid",
    ]);
  });

  it.each(CAPTURES)("%s matches its hand-written expectation", (name) => {
    const text = readFileSync(join(FIX, `${name}.mdstat`), "utf8");
    const expected = JSON.parse(readFileSync(join(FIX, `${name}.expected.json`), "utf8")) as {
      arrays: unknown[];
      unparsed: number[];
    };
    const r = parseMdstat(text);
    expect(r.arrays.map(summary)).toEqual(expected.arrays);
    expect(r.unparsed.map((u) => u.line)).toEqual(expected.unparsed);
  });
});

describe("parseMdstat details", () => {
  const one = (text: string) => {
    const r = parseMdstat(text);
    expect(r.arrays).toHaveLength(1);
    return r.arrays[0]!;
  };

  it("reads members with their flags, the read-only mark, blocks, [n/m] and [UU_]", () => {
    const a = one(
      "md1 : active (auto-read-only) raid5 sdd1[3](W)(S) sdc1[2](F) sdb1[1](J) sda1[0](R)\n" +
        "      1953260544 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]\n",
    );
    expect(a).toEqual({
      name: "md1",
      active: true,
      readOnly: "auto-read-only",
      level: "raid5",
      members: [
        { device: "sdd1", number: 3, flags: "WS" },
        { device: "sdc1", number: 2, flags: "F" },
        { device: "sdb1", number: 1, flags: "J" },
        { device: "sda1", number: 0, flags: "R" },
      ],
      blocks: 1953260544,
      slots: { total: 3, working: 2 },
      pattern: "UU_",
      line: 1,
    });
  });

  it("reads each running operation and each due one", () => {
    const status = "      100 blocks [2/2] [UU]\n";
    const op = (line: string) => one(`md0 : active raid1 a[0] b[1]\n${status}${line}\n`);
    expect(op("      [>....]  resync =  0.0% (1/100) finish=1min speed=1K/sec").sync).toEqual({
      action: "resync",
      percent: 0,
    });
    expect(op("      [====================>]  check = 100.0% (100/100)").sync).toEqual({
      action: "check",
      percent: 100,
    });
    expect(op("  reshape = 56.1% (1096879076/1953381440) finish=1868.1min speed=7640K/sec").sync).toEqual({
      action: "reshape",
      percent: 56.1,
    });
    expect(op("\tresync=DELAYED")).toMatchObject({ pending: { action: "resync", why: "DELAYED" } });
    expect(op("\trecover=REMOTE")).toMatchObject({ pending: { action: "recovery", why: "REMOTE" } });
    expect(op("\tresync=DELAYED").sync).toBeUndefined();
  });

  it("a progress over 100% is a line it cannot read, not a value", () => {
    const r = parseMdstat("md0 : active raid1 a[0] b[1]\n  100 blocks [2/2] [UU]\n  resync = 312.5% (1/2)\n");
    expect(r.arrays[0]!.sync).toBeUndefined();
    expect(r.unparsed).toEqual([
      { line: 3, text: "  resync = 312.5% (1/2)", reason: "a progress beyond 100% (array md0)" },
    ]);
  });

  it("skips an array whose first line has a token it does not know, with its detail lines", () => {
    const r = parseMdstat(
      "md0 : active raid1 sda1[0] what?\n   100 blocks [2/2] [UU]\n\nmd1 : active raid1 sdb1[0] sdc1[1]\n   100 blocks [2/2] [UU]\n",
    );
    expect(r.arrays.map((a) => a.name)).toEqual(["md1"]);
    expect(r.unparsed.map((u) => u.line)).toEqual([1]);
  });

  it("counts lines outside any array; ignores the header, the footer, 2.4's read_ahead and blank lines", () => {
    const r = parseMdstat(
      "Personalities : [raid1]\nread_ahead 1024 sectors\n\n   12 blocks\nunused devices: <none>\nstray\n",
    );
    expect(r.arrays).toEqual([]);
    expect(r.unparsed.map((u) => [u.line, u.reason])).toEqual([
      [4, "a line outside any array"],
      [6, "a line outside any array"],
    ]);
  });

  it("an empty file (md loaded, no array) is no array and no problem", () => {
    expect(parseMdstat("Personalities : \nunused devices: <none>\n")).toEqual({ arrays: [], unparsed: [] });
    expect(parseMdstat("")).toEqual({ arrays: [], unparsed: [] });
  });
});

describe("state mapping", () => {
  const array = (over: Partial<MdArray>): MdArray => ({
    name: "md0",
    active: true,
    level: "raid1",
    members: [
      { device: "sda1", number: 0, flags: "" },
      { device: "sdb1", number: 1, flags: "" },
    ],
    slots: { total: 2, working: 2 },
    line: 1,
    ...over,
  });

  it("degraded with nothing rebuilding is failed; rebuilding every missing slot is warning", () => {
    const degraded = array({ slots: { total: 2, working: 1 } });
    expect([mdState(degraded), arrayHealth(degraded)]).toEqual(["degraded", "failed"]);
    const rebuilding = { ...degraded, sync: { action: "recovery" as const, percent: 10 } };
    expect([mdState(rebuilding), arrayHealth(rebuilding), missingNotRebuilt(rebuilding)]).toEqual([
      "recovering",
      "warning",
      0,
    ]);
    // The rebuilt device failed again: its slot is empty, the recovery line may linger for a moment.
    const lost = {
      ...rebuilding,
      members: [rebuilding.members[0]!, { device: "sdb1", number: 1, flags: "F" }],
    };
    expect([mdState(lost), arrayHealth(lost), missingNotRebuilt(lost)]).toEqual(["recovering", "failed", 1]);
  });

  it("a due recovery on a degraded array is still degraded and failed (nothing rebuilds yet)", () => {
    const a = array({ slots: { total: 2, working: 1 }, pending: { action: "resync", why: "DELAYED" } });
    expect([mdState(a), arrayHealth(a)]).toEqual(["degraded", "failed"]);
  });

  it("a check is ok on a complete array and does not hide a degraded one", () => {
    const check = { action: "check" as const, percent: 50 };
    expect([mdState(array({ sync: check })), arrayHealth(array({ sync: check }))]).toEqual([
      "checking",
      "ok",
    ]);
    const degraded = array({ sync: check, slots: { total: 2, working: 1 } });
    expect([mdState(degraded), arrayHealth(degraded)]).toEqual(["checking", "failed"]);
  });

  it("inactive wins over everything", () => {
    const a = array({ active: false, sync: { action: "resync", percent: 1 } });
    expect([mdState(a), arrayHealth(a), deviceCounts(a).active]).toEqual(["inactive", "failed", 0]);
  });
});

describe("parseMdstat never throws", () => {
  const captures = CAPTURES.map((n) => readFileSync(join(FIX, `${n}.mdstat`), "utf8"));
  const check = (text: string) => {
    const r = parseMdstat(text);
    for (const a of r.arrays) {
      expect(MD_STATE_WORDS).toContain(mdState(a));
      expect(["ok", "warning", "failed"]).toContain(arrayHealth(a));
      for (const n of Object.values(deviceCounts(a))) expect(Number.isInteger(n) && n >= 0).toBe(true);
      if (a.sync) expect(a.sync.percent >= 0 && a.sync.percent <= 100).toBe(true);
    }
    for (const u of r.unparsed) expect(u.line).toBeGreaterThan(0);
  };

  it("on random text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (t) => check(t)),
      { numRuns: 500 },
    );
  });

  it("on random lines made of mdstat's own words", () => {
    const word = fc.constantFrom(
      "md0",
      ":",
      "active",
      "inactive",
      "raid1",
      "(auto-read-only)",
      "sda1[0]",
      "sdb1[1](F)",
      "sdc[2](S)(R)",
      "blocks",
      "123",
      "[2/1]",
      "[U_]",
      "recovery",
      "=",
      "12.5%",
      "resync=DELAYED",
      "[=>...]",
      "bitmap:",
      "\t",
      "  ",
    );
    const line = fc.array(word, { maxLength: 10 }).map((w) => w.join(" "));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (ls) => check(ls.join("\n"))),
      { numRuns: 500 },
    );
  });

  it("on truncated and shuffled captures", () => {
    const capture = fc.constantFrom(...captures);
    fc.assert(
      fc.property(capture, fc.nat(), (c, cut) => check(c.slice(0, cut % (c.length + 1)))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        capture.chain((c) => fc.shuffledSubarray(c.split("\n"), { minLength: 0 })),
        (ls) => check(ls.join("\n")),
      ),
      { numRuns: 500 },
    );
  });
});

const MD_STATE_WORDS = ["clean", "degraded", "recovering", "resyncing", "checking", "reshaping", "inactive"];

import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Sample } from "../../../src/engine/types.js";
import { collectorContext } from "../../../test/helpers.js";
import type { MdCollectorSpec } from "../config.js";
import { createMdCollector } from "../index.js";

const FIX = join(import.meta.dirname, "../testcases");
const TS = 1764100000000;
const context = (now: () => number = () => TS) => collectorContext(now);

const temps: string[] = [];
/** A fake root; with `capture`, its proc/mdstat is that test case. */
function tempRoot(capture?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sb-md-unit-"));
  temps.push(dir);
  mkdirSync(join(dir, "proc"));
  if (capture) copyFileSync(join(FIX, `${capture}.mdstat`), join(dir, "proc", "mdstat"));
  return dir;
}
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(root: string, now?: () => number) {
  const spec: MdCollectorSpec = { name: "raid", type: "md", interval: 10_000, timeout: 10_000, root };
  const { ctx, logged } = context(now);
  return { md: createMdCollector(spec, ctx), logged };
}

const run = (c: { collect(s: AbortSignal): Promise<Sample[]> }) => c.collect(new AbortController().signal);
const STATES = ["clean", "degraded", "recovering", "resyncing", "checking", "reshaping", "inactive"];

describe("md collector on a fake root", () => {
  it("emits md.array, the md.state set, md.devices and md.sync_percent per array, labelled, at ctx.now()", async () => {
    const root = tempRoot("check_raid-recovery");
    const { md, logged } = setup(root);
    expect([md.kind, md.name, md.interval, md.timeout]).toEqual(["poll", "raid", 10_000, 10_000]);
    expect(md.file).toBe(join(root, "proc", "mdstat"));
    const l = { host: "web-01", collector: "raid", array: "md0", level: "raid6" };
    expect(await run(md)).toEqual([
      { metric: "md.array", labels: l, value: 1, state: "warning", ts: TS },
      ...STATES.map((state) => ({
        metric: "md.state",
        labels: { ...l, state },
        value: state === "recovering" ? 1 : 0,
        ts: TS,
      })),
      { metric: "md.devices", labels: { ...l, role: "total" }, value: 6, ts: TS },
      { metric: "md.devices", labels: { ...l, role: "active" }, value: 4, ts: TS },
      { metric: "md.devices", labels: { ...l, role: "failed" }, value: 0, ts: TS },
      { metric: "md.devices", labels: { ...l, role: "spare" }, value: 0, ts: TS },
      { metric: "md.sync_percent", labels: l, value: 19.6, ts: TS },
    ]);
    expect(logged).toEqual([]);
  });

  it("a degraded array is failed (2), a clean one ok (0) with no sync_percent; label objects are reused", async () => {
    const root = tempRoot("check_raid-failed");
    let now = TS;
    const { md } = setup(root, () => now);
    const first = await run(md);
    expect(first.filter((s) => s.metric === "md.array")).toEqual([
      {
        metric: "md.array",
        labels: { host: "web-01", collector: "raid", array: "md0", level: "raid5" },
        value: 2,
        state: "failed",
        ts: TS,
      },
    ]);
    expect(first.filter((s) => s.metric === "md.state" && s.value === 1).map((s) => s.labels.state)).toEqual([
      "degraded",
    ]);
    expect(first.some((s) => s.metric === "md.sync_percent")).toBe(false);
    now = TS + 10_000;
    const second = await run(md);
    expect(second.map((s) => s.ts)).toEqual(first.map(() => TS + 10_000));
    // The same frozen label object for the same series, run after run (the engine's identity cache).
    second.forEach((s, i) => {
      expect(s.labels).toBe(first[i]!.labels);
    });
    expect(Object.isFrozen(first[0]!.labels)).toBe(true);

    copyFileSync(join(FIX, "check_raid-spare.mdstat"), join(root, "proc", "mdstat"));
    const clean = await run(md);
    expect(
      clean.filter((s) => s.metric === "md.array").map((s) => [s.labels.array, s.value, s.state]),
    ).toEqual([["md1", 0, "ok"]]);
  });

  it("no /proc/mdstat (no md driver): no samples, one log line however many runs, again once it comes back", async () => {
    const root = tempRoot();
    const { md, logged } = setup(root);
    for (let i = 0; i < 3; i++) expect(await run(md)).toEqual([]);
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      [
        "warn",
        `md: no ${join(root, "proc", "mdstat")} (the md driver is not loaded, or there is no such root); no md samples until it appears`,
      ],
    ]);
    expect(md.readFailures).toBe(3);
    copyFileSync(join(FIX, "check_raid-spare.mdstat"), join(root, "proc", "mdstat"));
    expect((await run(md)).length).toBe(12);
    rmSync(join(root, "proc", "mdstat"));
    expect(await run(md)).toEqual([]);
    expect(logged.map((l) => l.level)).toEqual(["warn", "info", "warn"]);
  });

  it("an unreadable file (here a directory: EISDIR, even for root) is logged once with its error", async () => {
    const root = tempRoot();
    mkdirSync(join(root, "proc", "mdstat"));
    const { md, logged } = setup(root);
    expect(await run(md)).toEqual([]);
    expect(await run(md)).toEqual([]);
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      [
        "warn",
        `md: cannot read ${join(root, "proc", "mdstat")}; no md samples until it can be read (logged once)`,
      ],
    ]);
    expect((logged[0]!.obj as { err: string }).err).toMatch(/EISDIR/);
  });

  it("skips lines it cannot parse: counted every run, logged once per distinct problem", async () => {
    const root = tempRoot();
    const file = join(root, "proc", "mdstat");
    const text = (pct: string) =>
      `md0 : active raid1 sdb1[1] sda1[0]\n      100 blocks [2/2] [UU]\n      widgets = ${pct}\nmd1 : frobnicated\n`;
    writeFileSync(file, text("12"));
    const { md, logged } = setup(root);
    const samples = await run(md);
    // md0 is reported; md1's first line is not understood: it is skipped whole.
    expect(new Set(samples.map((s) => s.labels.array))).toEqual(new Set(["md0"]));
    writeFileSync(file, text("13"));
    await run(md);
    expect(md.unparsedLines).toBe(4);
    expect(logged.map((l) => [l.level, (l.obj as { line: number }).line, l.msg])).toEqual([
      ["warn", 3, "md: skipping a line of an unknown shape (array md0) (logged once, counted after)"],
      [
        "warn",
        4,
        "md: skipping an array's first line that is not `NAME : active|inactive [LEVEL] DEVICE[N]...` (logged once, counted after)",
      ],
    ]);
  });

  it("an aborted run rejects instead of reporting a missing file", async () => {
    const { md, logged } = setup(tempRoot("check_raid-spare"));
    const ac = new AbortController();
    ac.abort();
    await expect(md.collect(ac.signal)).rejects.toThrow();
    expect(logged).toEqual([]);
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSimulate } from "../../src/cli/commands/simulate.js";
import { memoryIo } from "../../src/cli/io.js";
import { EVENT_KINDS } from "../../src/groups/events.js";

const CONFIG = "examples/uplink/standby.yaml";
const TRACE = "examples/uplink/trace.jsonl";

describe("standby simulate", () => {
  it("prints each decision with its time and reason, and a summary", async () => {
    const io = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: TRACE, quiet: ["rule", "health"] }, io)).toBe(0);
    expect(io.stderr).toEqual([]);
    const switches = io.stdout.filter((l) => /\b(failover|failback)\b/.test(l) && !l.startsWith("--"));
    expect(switches).toEqual([
      "  +10.200s  failover            uplink: isp-a → isp-b  — isp-a unhealthy (gw-a-down firing: max over 3 samples == 0 (value 0)); isp-b is the healthy member of highest priority (50)",
      "  +66.300s  failback            uplink: isp-b → isp-a  — isp-a healthy for 30s (hold 30s, failback auto); priority 100 > 50",
    ]);
    expect(io.stdout.at(-1)).toBe("-- uplink: active isp-a since +66.300s; isp-a healthy, isp-b healthy");
  });
  it("--json prints the events exactly as the event log: one object a line with the contract's fields", async () => {
    const io = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: TRACE, json: true }, io)).toBe(0);
    const events = io.stdout.map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThan(10);
    for (const e of events) {
      expect(typeof e.ts).toBe("number");
      expect(EVENT_KINDS).toContain(e.kind);
      expect(typeof e.reason).toBe("string");
    }
    expect(events.find((e) => e.kind === "failover")).toEqual({
      ts: Date.UTC(2026, 10, 25, 12, 0, 10, 200),
      kind: "failover",
      group: "uplink",
      from: "isp-a",
      to: "isp-b",
      rule: "gw-a-down",
      labels: { collector: "gw-a" },
      value: 0,
      reason:
        "isp-a unhealthy (gw-a-down firing: max over 3 samples == 0 (value 0)); isp-b is the healthy member of highest priority (50)",
    });
    expect(events.find((e) => e.kind === "rule")).toMatchObject({
      rule: "gw-a-down",
      state: "ok",
      prev: "unknown",
    });
  });
  it("reports every bad trace line as FILE:LINE and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-sim-"));
    const trace = join(dir, "bad.jsonl");
    writeFileSync(
      trace,
      [
        '{"ts": 1000, "metric": "probe.success", "labels": {"collector": "gw-a"}, "value": 1}',
        "# a comment",
        '{"ts": 1100, "metric": "probe.success"}',
        "not json",
        '{"ts": 900, "metric": "probe.success", "labels": {"collector": "gw-a"}, "value": 1}',
      ].join("\n"),
    );
    const io = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace }, io)).toBe(1);
    expect(io.stderr).toEqual([
      `${trace}:3: expected "value": a number (or a "state" word: ok, warning, failed, absent, unknown)`,
      `${trace}:4: not valid JSON (Unexpected token 'o', "not json" is not valid JSON); expected one JSON object a line`,
      `${trace}:5: not in time order: ts 900 is before the previous 1000`,
    ]);
  });
  it("--until runs timers past the last entry, and the summary tells the trace's length and the extra time apart", async () => {
    const io = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: TRACE, quiet: ["rule", "health"] }, io)).toBe(0);
    const plain = io.stdout.find((l) => l.startsWith("-- end at"))!;
    const m = /^-- end at \+([\d.]+)s: ([\dms.]+) of trace; /.exec(plain);
    expect(m, plain).not.toBeNull();
    const io2 = memoryIo();
    expect(
      await runSimulate({ config: CONFIG, trace: TRACE, quiet: ["rule", "health"], until: "30s" }, io2),
    ).toBe(0);
    const ended = io2.stdout.find((l) => l.startsWith("-- end at"))!;
    expect(ended).toContain(`: ${m![2]} of trace, then timers ran 30s past it (--until); `);
    expect(ended.startsWith(`-- end at +${(Number(m![1]) + 30).toFixed(3)}s:`)).toBe(true);
  });
  it("says so when the trace cannot be read, is empty, or the config is bad", async () => {
    const io = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: "/nonexistent/trace.jsonl" }, io)).toBe(1);
    expect(io.stderr).toEqual(["/nonexistent/trace.jsonl: cannot read the trace: ENOENT"]);
    const dir = mkdtempSync(join(tmpdir(), "sb-sim-"));
    writeFileSync(join(dir, "empty.jsonl"), "\n");
    const io2 = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: join(dir, "empty.jsonl") }, io2)).toBe(1);
    expect(io2.stderr).toEqual([`${join(dir, "empty.jsonl")}: the trace holds no samples`]);
    const io3 = memoryIo();
    expect(await runSimulate({ config: join(dir, "missing.yaml"), trace: TRACE }, io3)).toBe(1);
    expect(io3.stderr[0]).toMatch(/missing\.yaml: /);
    const io4 = memoryIo();
    expect(await runSimulate({ config: CONFIG, trace: TRACE, until: "soon" }, io4)).toBe(1);
    expect(io4.stderr).toEqual([
      '--until: "soon" is neither a duration (30s, 5m) nor a time in epoch milliseconds',
    ]);
  });
});

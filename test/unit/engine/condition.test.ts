import { describe, expect, it } from "vitest";
import { parseCondition } from "../../../src/engine/condition.js";
import { formatDuration, formatElapsed, parseDuration, parseSpan } from "../../../src/util/duration.js";

describe("parseCondition", () => {
  it.each([
    ["max over 3 samples == 0", { fn: "max", window: { kind: "samples", n: 3 }, op: "==", value: 0 }],
    ["p95 over 10s > 150", { fn: "p95", window: { kind: "time", ms: 10_000 }, op: ">", value: 150 }],
    ["avg over 1m30s <= 0.5", { fn: "avg", window: { kind: "time", ms: 90_000 }, op: "<=", value: 0.5 }],
    ["in [failed, absent]", { fn: "last", op: "in", values: [2, 3] }],
    ["last != ok", { fn: "last", op: "!=", value: 0 }],
    ["> -1.5e3", { fn: "last", op: ">", value: -1500 }],
    ["  min over 1 sample == 1 ", { fn: "min", window: { kind: "samples", n: 1 }, op: "==", value: 1 }],
  ])("parses %j", (text, expected) => {
    const r = parseCondition(text);
    expect(r.ok && r.condition).toEqual({ text: text.trim(), ...expected });
  });
  it.each([
    ["", 0, "empty condition"],
    ["mx over 3 samples == 0", 0, 'unknown function "mx"'],
    ["max over three samples == 0", 9, "expected a window after `over`"],
    ["max over 0 samples == 0", 9, "expected a window after `over`"],
    ["avg > 5", 4, "`avg` needs a window"],
    ["max over 3 samples = 0", 19, 'expected an operator (> >= < <= == != in) but found "="'],
    ["max over 3 samples", 18, "missing comparison"],
    ["last >", 6, "missing value after `>`"],
    ["last > fast", 7, '"fast" is not a number or a state word'],
    ["in failed", 3, "expected `[` after `in`"],
    ["in [failed, broken]", 12, '"broken" is not a number or a state word'],
    ["in [failed", 10, "missing `]`"],
    ["last > 5 and more", 9, "unexpected `and more` after the value"],
  ])("rejects %j at offset %i", (text, offset, message) => {
    const r = parseCondition(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toContain(message);
      expect(r.error.offset).toBe(offset);
    }
  });
});

describe("durations", () => {
  it("parses and formats", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("5 minutes")).toBeUndefined();
    expect(parseDuration("5")).toBeUndefined();
    expect(parseSpan("3 samples")).toEqual({ kind: "samples", n: 3 });
    expect(parseSpan("1 sample")).toEqual({ kind: "samples", n: 1 });
    expect(parseSpan("0 samples")).toBeUndefined();
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(3_600_000)).toBe("1h");
    expect(formatDuration(90_003)).toBe("1m30.003s");
  });
  it("formats a time the daemon measured: whole seconds (rounded down) from 10 s on", () => {
    expect(formatElapsed(30_001)).toBe("30s");
    expect(formatElapsed(30_999)).toBe("30s");
    expect(formatElapsed(90_500)).toBe("1m30s");
    expect(formatElapsed(9_999)).toBe("9.999s");
    expect(formatElapsed(1_500)).toBe("1.5s");
    expect(formatElapsed(250)).toBe("250ms");
  });
});

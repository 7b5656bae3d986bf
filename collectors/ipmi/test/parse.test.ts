import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { kindOf, offsetsOf, parseIpmitool, thresholdState } from "../parse.js";

const DIR = join(import.meta.dirname, "../testcases");

/** Every capture with the samples written by hand for it: `X.FORM.txt` → `X.FORM.expected.json` or `X.expected.json`. */
function captures(): { file: string; expected: string }[] {
  const out: { file: string; expected: string }[] = [];
  for (const sub of ["", "vendors"]) {
    const dir = join(DIR, sub);
    const files = readdirSync(dir);
    for (const f of files.filter((f) => f.endsWith(".txt"))) {
      const base = f.slice(0, -".txt".length);
      const own = `${base}.expected.json`;
      const shared = `${base.replace(/\.[^.]+$/, "")}.expected.json`;
      const expected = files.includes(own) ? own : shared;
      if (!files.includes(expected)) throw new Error(`${f}: no ${own} or ${shared}`);
      out.push({ file: join(dir, f), expected: join(dir, expected) });
    }
  }
  return out;
}

interface Expected {
  sensor: string;
  kind: string;
  state: string;
  reading: number | null;
  unit: string | null;
}

describe("ipmitool output, every capture (the sim's and real hardware's)", () => {
  const all = captures();
  it("has captures of the three forms and of several vendors", () => {
    expect(all.length).toBeGreaterThanOrEqual(18);
    const names = all.map((c) => c.file).join(" ");
    for (const form of ["sdr-elist", "sdr.txt", "sensor"]) expect(names).toContain(form);
    for (const v of ["dell", "hpe", "huawei", "supermicro", "ibm"]) expect(names).toContain(`vendors/${v}`);
  });
  it.each(all.map((c) => [c.file.slice(DIR.length + 1), c] as const))("%s", (_name, c) => {
    const r = parseIpmitool(readFileSync(c.file, "utf8"));
    const expected = (JSON.parse(readFileSync(c.expected, "utf8")) as Expected[]).map(
      ({ sensor, kind, state, reading, unit }) => ({ sensor, kind, state, reading, unit }),
    );
    const got = r.sensors.map((s) => ({
      sensor: s.name,
      kind: s.kind,
      state: s.state,
      reading: s.reading ?? null,
      unit: s.unit ?? null,
    }));
    expect(got).toEqual(expected);
    expect(r.skipped).toEqual([]);
  });
});

describe("ipmitool states", () => {
  it("threshold columns: cr/nr failed, nc warning, ns/na unknown", () => {
    for (const s of ["cr", "lcr", "ucr", "nr", "lnr", "unr"]) expect(thresholdState(s)).toBe("failed");
    for (const s of ["nc", "lnc", "unc"]) expect(thresholdState(s)).toBe("warning");
    for (const s of ["ns", "na", "??"]) expect(thresholdState(s)).toBe("unknown");
    expect(thresholdState("ok")).toBe("ok");
  });
  it("hex states: 0xAABB, offsets 0-7 in AA, 8-14 in BB, bit 7 of BB ignored", () => {
    expect(offsetsOf("0x0180")).toEqual([0]);
    expect(offsetsOf("0x0300")).toEqual([0, 1]);
    expect(offsetsOf("0x8000")).toEqual([7]);
    expect(offsetsOf("0x0001")).toEqual([8]);
    expect(offsetsOf("0x0080")).toEqual([]);
    expect(offsetsOf("0x03")).toEqual([0, 1]);
    expect(offsetsOf("zz")).toBeUndefined();
  });
  it("PSU texts decide whatever the status column says", () => {
    const psu = (text: string, status = "ok") =>
      parseIpmitool(`PS1 Status | 04h | ${status} | 10.1 | ${text}`).sensors[0]?.state;
    expect(psu("Presence detected")).toBe("ok");
    expect(psu("Presence detected, Failure detected")).toBe("failed");
    expect(psu("Presence detected, Power Supply AC lost")).toBe("failed");
    expect(psu("AC lost or out-of-range")).toBe("failed");
    expect(psu("Presence detected, AC out-of-range, but present")).toBe("failed");
    expect(psu("Presence detected, Predictive failure")).toBe("warning");
    expect(psu("Device Absent")).toBe("absent");
    expect(psu("Absent")).toBe("absent");
    expect(psu("No Reading", "ns")).toBe("unknown");
    expect(psu("")).toBe("ok");
  });
  it("redundancy texts: lost and any non-redundant failed, degraded warning, fully redundant ok", () => {
    const red = (name: string, text: string) => {
      const s = parseIpmitool(`${name} | 06h | ok | 19.1 | ${text}`).sensors[0];
      return `${s?.kind} ${s?.state}`;
    };
    expect(red("PS Redundancy", "Fully Redundant")).toBe("redundancy ok");
    expect(red("PS Redundancy", "Redundancy Lost")).toBe("redundancy failed");
    expect(red("Fan Redundancy", "Non-Redundant: Sufficient from Redundant")).toBe("redundancy failed");
    expect(red("PS Redundancy", "Non-Redundant: Insufficient Resources")).toBe("redundancy failed");
    expect(red("PS Redundancy", "Redundancy Degraded from Fully Redundant")).toBe("redundancy warning");
    expect(red("Power Supplies", "Fully Redundant")).toBe("redundancy ok");
    expect(red("Fans", "Redundancy Lost")).toBe("redundancy failed");
  });
  it("PSU and redundancy hex states in the 10-column form", () => {
    const line = (name: string, hex: string) =>
      parseIpmitool(`${name} | 0x1 | discrete | ${hex}| na | na | na | na | na | na`).sensors[0];
    expect(line("PSU2 Status", "0x0300")?.state).toBe("failed");
    expect(line("PSU2 Status", "0x0500")?.state).toBe("warning");
    expect(line("PSU2 Status", "0x0900")?.state).toBe("failed");
    expect(line("PSU2 Status", "0x0180")).toMatchObject({ state: "ok", presence: true });
    expect(line("PSU2 Status", "0x0080")).toMatchObject({ state: "ok", presence: false });
    expect(line("PS Redundancy", "0x0100")?.state).toBe("ok");
    expect(line("PS Redundancy", "0x0280")?.state).toBe("failed");
    expect(line("PS Redundancy", "0x0400")?.state).toBe("warning");
    expect(line("PS Redundancy", "0x0800")?.state).toBe("failed");
    expect(line("Intrusion", "0x0100")?.state).toBe("ok");
  });
  it("kinds from names, units and entities", () => {
    expect(kindOf("CPU Temp", "degrees C", 3)).toBe("temperature");
    expect(kindOf("PS1 Input Power", "Watts", 10)).toBe("power");
    expect(kindOf("Status", undefined, 10)).toBe("psu");
    expect(kindOf("Status", undefined, 3)).toBe("other");
    expect(kindOf("PS 12V", undefined, undefined)).toBe("voltage");
    expect(kindOf("Power Supply 2", undefined, undefined)).toBe("psu");
    expect(kindOf("Fan Redundancy", undefined, 29)).toBe("redundancy");
    expect(kindOf("Fan 3", "percent", 29)).toBe("fan");
  });
});

describe("ipmitool output that is not a sensor", () => {
  it("is skipped and returned, never thrown", () => {
    const r = parseIpmitool(
      "Get HPM.x Capabilities request failed, compcode = c9\nCPU Temp | 01h | ok | 3.1 | 45 degrees C\n\n",
    );
    expect(r.sensors.map((s) => s.name)).toEqual(["CPU Temp"]);
    expect(r.skipped).toEqual(["Get HPM.x Capabilities request failed, compcode = c9"]);
  });
  it("random text and truncated or shuffled captures never throw", () => {
    const texts = captures().map((c) => readFileSync(c.file, "utf8"));
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (t) => {
        parseIpmitool(t);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: texts.length - 1 }),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (i, cut, order) => {
          const lines = texts[i]!.slice(0, cut % (texts[i]!.length + 1)).split("\n");
          const shuffled = order.map((o) => lines[o % lines.length]!);
          const r = parseIpmitool([...shuffled, ...lines].join("\n"));
          for (const s of r.sensors)
            expect(["ok", "warning", "failed", "absent", "unknown"]).toContain(s.state);
        },
      ),
      { numRuns: 500 },
    );
  });
});

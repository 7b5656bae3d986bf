import { describe, expect, it } from "vitest";
import { formatReload } from "../../../src/cli/commands/run.js";

describe("the live view (--view)", () => {
  it("shows reloads, applied and refused, as it shows events", () => {
    expect(
      formatReload({ ts: 12_300, ok: true, message: "reloaded: 1 group(s), 2 rule(s), 3 collector(s)" }, 0),
    ).toBe("  +12.300s  reloaded            — reloaded: 1 group(s), 2 rule(s), 3 collector(s)");
    expect(formatReload({ ts: 500, ok: false, message: "reload refused: invalid config" }, 0)).toBe(
      "   +0.500s  reload_refused      — reload refused: invalid config",
    );
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** The V8 options the daemon runs with are one thing, wherever it is started from. */
describe("scripts/node-options", () => {
  const opts = readFileSync("scripts/node-options", "utf8").trim();

  it("is what the systemd unit, scripts/run.sh and the benchmarks' daemons use", () => {
    expect(opts).toMatch(/^--max-semi-space-size=\d+$/);
    expect(readFileSync("systemd/standby.service", "utf8")).toContain(`Environment=NODE_OPTIONS=${opts}\n`);
    expect(readFileSync("scripts/run.sh", "utf8")).toContain('NODE_OPTIONS="$(cat scripts/node-options)');
    expect(readFileSync("bench/util.ts", "utf8")).toContain('"scripts", "node-options"');
  });
});

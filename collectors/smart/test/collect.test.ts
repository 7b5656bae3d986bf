/**
 * `standby collect --once --json` with `smartctl:` pointing at a script that prints a capture: what a user does
 * to check a capture from their own hardware (README, "Check a capture").
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCollect } from "../../../src/cli/commands/collect.js";
import { memoryIo } from "../../../src/cli/io.js";
import { FIX } from "./fake.js";

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("standby collect --once with a smart block", () => {
  it("prints the samples of the capture the script prints", async () => {
    dir = mkdtempSync(join(tmpdir(), "sb-smart-collect-"));
    // As in the README: a script that prints the capture and exits with smartctl's status.
    writeFileSync(join(dir, "fake-smartctl"), `#!/bin/sh\ncat ${join(FIX, "ata-failing.json")}\nexit 216\n`);
    chmodSync(join(dir, "fake-smartctl"), 0o755);
    const config = join(dir, "standby.yaml");
    writeFileSync(
      config,
      `host: t
state_dir: ${join(dir, "state")}
collectors:
  - name: disks
    type: smart
    smartctl: ./fake-smartctl
    devices: [/dev/sdc]
`,
    );
    const json = memoryIo();
    expect(await runCollect({ config, streamMs: 0, json: true }, json)).toBe(0);
    const labels = { host: "t", collector: "disks", device: "/dev/sdc", type: "usbjmicron", protocol: "ATA" };
    expect(json.stdout.map((l) => JSON.parse(l)).map(({ ts, ...s }) => s)).toEqual([
      { metric: "smart.health", labels, value: 2, state: "failed" },
      { metric: "smart.temperature_c", labels, value: 25 },
      { metric: "smart.reallocated_sectors", labels, value: 1975 },
      { metric: "smart.pending_sectors", labels, value: 8 },
    ]);
    // The exit status bits are reported (as a warning: the disk is failing).
    expect(json.stderr.join("\n")).toContain("smartctl exit 216: SMART status: disk failing (bit 3)");

    const text = memoryIo();
    expect(await runCollect({ config, streamMs: 0 }, text)).toBe(0);
    expect(text.stdout).toContain(
      'smart.health{host="t",collector="disks",device="/dev/sdc",type="usbjmicron",protocol="ATA"} 2 (failed)',
    );
  });
});

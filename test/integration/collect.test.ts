import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runCollect } from "../../src/cli/commands/collect.js";
import { memoryIo } from "../../src/cli/io.js";

describe("standby collect --once", () => {
  it("prints what each collector sees now: a poll collector once, a probe for a while", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-collect-"));
    const config = join(dir, "standby.yaml");
    writeFileSync(
      config,
      `host: t
state_dir: ${join(dir, "state")}
collectors:
  - {name: local, type: os, interval: 5s, root: ${resolve("collectors/os/testcases/root")}}
  - name: lo
    type: probe
    interval: 100ms
    probe: {kind: tcp, target: "127.0.0.1:9"}
`,
    );
    const io = memoryIo();
    expect(await runCollect({ config, streamMs: 500 }, io)).toBe(0);
    expect(io.stdout).toContain('load.1{host="t",collector="local"} 1.86');
    expect(
      io.stdout.filter((l) => l.startsWith('probe.success{host="t",collector="lo",kind="tcp"')),
    ).not.toEqual([]);
    // Nothing listens on port 9 (discard) on loopback: every probe fails, and says so with 0.
    expect(io.stdout.filter((l) => l.startsWith("probe.success")).every((l) => l.endsWith(" 0"))).toBe(true);
    const json = memoryIo();
    expect(await runCollect({ config, streamMs: 0, json: true, only: ["local"] }, json)).toBe(0);
    const samples = json.stdout.map((l) => JSON.parse(l));
    // Not vacuous: the fake root's load average is there, and only the collector asked for.
    expect(samples).toContainEqual(
      expect.objectContaining({ metric: "load.1", labels: { host: "t", collector: "local" }, value: 1.86 }),
    );
    expect(samples.every((s) => s.labels.collector === "local" && typeof s.ts === "number")).toBe(true);
  });
});

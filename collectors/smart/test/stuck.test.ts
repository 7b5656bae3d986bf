/**
 * A smartctl that is killed but never exits (a disk or HBA that hangs it in the kernel, D state) must not be
 * joined by another one every poll: the collector waits for it to go before it runs smartctl on that device again.
 * A real D-state process cannot be made on demand, so the spawn is injected: it reports the run abandoned with the
 * pid of a live process, as spawnWithTimeout does after SIGKILL did not end the child.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { SpawnResult } from "../../../src/actions/spawn.js";
import { schema } from "../config.js";
import { createSmartCollector, type Spawn } from "../index.js";
import { context } from "./fake.js";

describe("smart: a smartctl stuck in the kernel", () => {
  it("is not joined by another for the same device until it is gone; other devices carry on", async () => {
    const stuck = spawn("sleep", ["30"], { stdio: "ignore" });
    const calls: string[] = [];
    const fake: Spawn = async (argv) => {
      const dev = argv.at(-1)!;
      calls.push(dev);
      const base: SpawnResult = { argv, output: "", durationMs: 1, timedOut: false, aborted: false };
      if (dev === "/dev/sda" && calls.filter((c) => c === dev).length === 1)
        return { ...base, timedOut: true, killedWith: "SIGKILL", abandoned: true, pid: stuck.pid! };
      return { ...base, exitCode: 2, stdout: "" };
    };
    const spec = schema.parse({ name: "disks", type: "smart", devices: ["/dev/sda", "/dev/sdb"] });
    const { ctx, logged } = context();
    const c = createSmartCollector(spec, ctx, fake);
    const run = () => c.collect(new AbortController().signal);
    try {
      await run();
      expect(calls).toEqual(["/dev/sda", "/dev/sdb"]);
      await run();
      await run();
      expect(calls).toEqual(["/dev/sda", "/dev/sdb", "/dev/sdb", "/dev/sdb"]);
      const warned = logged.filter((l) => String(l.obj.err).includes(`(pid ${stuck.pid}) has not exited`));
      expect(warned).toHaveLength(1);
    } finally {
      stuck.kill("SIGKILL");
      await new Promise((r) => stuck.once("exit", r));
    }
    await run();
    expect(calls.filter((c) => c === "/dev/sda")).toHaveLength(2);
  });
});

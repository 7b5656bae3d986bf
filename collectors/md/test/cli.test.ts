/**
 * `standby collect --once` with an md block whose `root` holds a captured proc/mdstat: what the README tells users
 * to run on a capture of their own hardware. Once in-process, once through the compiled CLI as a user runs it.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCollect } from "../../../src/cli/commands/collect.js";
import { memoryIo } from "../../../src/cli/io.js";

const ROOT = resolve(import.meta.dirname, "../../..");
const MAIN = join(ROOT, "dist/src/cli/main.js");
const BUILT_MD = join(ROOT, "dist/collectors/md/index.js");

/** The compiled CLI must be there and carry this collector as it is now (scripts/setup.sh builds it). */
function assertBuilt(): void {
  if (!existsSync(MAIN) || !existsSync(BUILT_MD))
    throw new Error(`${MAIN} or ${BUILT_MD} is missing: run \`npm run build\` (scripts/test.sh does)`);
  const built = statSync(BUILT_MD).mtimeMs;
  const dir = join(ROOT, "collectors/md");
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    if (statSync(join(dir, f)).mtimeMs > built + 1000)
      throw new Error(`dist/ is older than collectors/md/${f}: run \`npm run build\``);
  }
}

let dir: string;
let config: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sb-md-cli-"));
  // A capture laid out as `root` expects it, beside a config that names it relative to itself.
  mkdirSync(join(dir, "capture", "proc"), { recursive: true });
  copyFileSync(
    join(ROOT, "collectors/md/testcases/check_raid-reshape.mdstat"),
    join(dir, "capture", "proc", "mdstat"),
  );
  config = join(dir, "standby.yaml");
  writeFileSync(
    config,
    `host: t\nstate_dir: ${join(dir, "state")}\ncollectors:\n  - {name: raid, type: md, root: ./capture}\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const L = { host: "t", collector: "raid", array: "md0", level: "raid6" };

function expectReshapeSamples(samples: { metric: string; labels: object; value: number; state?: string }[]) {
  expect(samples.map(({ metric, labels, value, state }) => ({ metric, labels, value, state }))).toEqual([
    { metric: "md.array", labels: L, value: 2, state: "failed" },
    ...["clean", "degraded", "recovering", "resyncing", "checking", "reshaping", "inactive"].map((state) => ({
      metric: "md.state",
      labels: { ...L, state },
      value: state === "reshaping" ? 1 : 0,
      state: undefined,
    })),
    { metric: "md.devices", labels: { ...L, role: "total" }, value: 6, state: undefined },
    { metric: "md.devices", labels: { ...L, role: "active" }, value: 4, state: undefined },
    { metric: "md.devices", labels: { ...L, role: "failed" }, value: 0, state: undefined },
    { metric: "md.devices", labels: { ...L, role: "spare" }, value: 2, state: undefined },
    { metric: "md.sync_percent", labels: L, value: 48.4, state: undefined },
  ]);
}

describe("standby collect --once with an md root", () => {
  it("in-process: prints the capture's samples, as text and as JSON", async () => {
    const io = memoryIo();
    expect(await runCollect({ config, streamMs: 0 }, io)).toBe(0);
    expect(io.stdout).toContain('md.array{host="t",collector="raid",array="md0",level="raid6"} 2 (failed)');
    expect(io.stdout).toContain('md.sync_percent{host="t",collector="raid",array="md0",level="raid6"} 48.4');
    const json = memoryIo();
    expect(await runCollect({ config, streamMs: 0, json: true }, json)).toBe(0);
    expectReshapeSamples(json.stdout.map((l) => JSON.parse(l)));
    expect(json.stderr).toEqual([]);
  });

  it("the compiled CLI: `standby collect --once --json --config X`", () => {
    assertBuilt();
    const r = spawnSync(process.execPath, [MAIN, "collect", "--once", "--json", "--config", config], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const samples = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expectReshapeSamples(samples);
    expect(samples.every((s) => Number.isInteger(s.ts) && s.ts > 1.6e12)).toBe(true);
  });
});

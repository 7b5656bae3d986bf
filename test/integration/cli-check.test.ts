/**
 * `standby check` as a user runs it (the compiled CLI): each line it prints ends with a newline, on stdout and on
 * stderr, so that a shell prompt or the next command's output never lands on its last line (issue 6 item 16).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const MAIN = join(import.meta.dirname, "../../dist/src/cli/main.js");

describe("standby check (compiled CLI)", () => {
  it("ends its summary and its errors with a newline", () => {
    if (!existsSync(MAIN))
      throw new Error(`${MAIN} is missing: run \`npm run build\` (scripts/test.sh does)`);
    const ok = spawnSync("node", [MAIN, "check", "-c", "etc/standby.yaml"], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^config OK: .*\n$/);
    const rules = spawnSync("node", [MAIN, "check", "rules/cpu.yaml"], { encoding: "utf8" });
    expect(rules.stdout).toMatch(/^rules OK: .*\n$/);
    const bad = spawnSync("node", [MAIN, "check", "-c", "/nonexistent/standby.yaml"], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/^\/nonexistent\/standby\.yaml: .*\n$/);
  });

  it("a shared group: check summarizes the fleet membership", () => {
    const file = "test/fixtures/config/standby/cluster.good.yaml";
    const ok = spawnSync("node", [MAIN, "check", "-c", file], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/fleet member "web-01\.site-a" of 3 etcd endpoint\(s\), 3 shared groups/);
  });
});

/**
 * `.ci/run` is what CI runs. It sets CI=true itself (issue 6 item 21): with it, the namespace and end-to-end
 * suites run or fail — a runner that forgot to set CI, or a non-root runner, must not pass with them skipped.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe(".ci/run", () => {
  it("runs scripts/test.sh with CI=true even when the runner does not set it", () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-ci-"));
    try {
      mkdirSync(join(dir, ".ci"));
      mkdirSync(join(dir, "scripts"));
      copyFileSync(join(import.meta.dirname, "../../.ci/run"), join(dir, ".ci/run"));
      chmodSync(join(dir, ".ci/run"), 0o755);
      // A stand-in for the test suite: reports what it was given.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template.
      writeFileSync(join(dir, "scripts/test.sh"), 'echo "CI=${CI:-unset}"; exit 3\n');
      const env = { ...process.env };
      delete env.CI;
      const r = spawnSync(join(dir, ".ci/run"), [], { encoding: "utf8", env });
      expect(r.stdout).toBe("CI=true\n");
      expect(r.status).toBe(3); // the suite's status is CI's status
      const falsy = spawnSync(join(dir, ".ci/run"), [], { encoding: "utf8", env: { ...env, CI: "false" } });
      expect(falsy.stdout).toBe("CI=true\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

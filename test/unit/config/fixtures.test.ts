/**
 * Every fixture in test/fixtures/config: `*.good.yaml` loads without an error; `*.bad.yaml` gives exactly the
 * lines of its sibling `*.bad.errors` (paths relative to the repository root), in that order.
 * rules/ holds rule files, standby/ config files (their subfolders hold the rule files they name).
 * `{COLLECTOR_TYPES}` in an .errors file stands for the collector types of this build (adding a collector
 * changes no fixture).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatError, loadConfig, loadRuleFile } from "../../../src/config/load.js";
import { COLLECTOR_TYPES } from "../../../src/config/schema.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Fixture paths as the loader prints them: relative to the working directory (the repo root under npm test). */
const rel = (p: string) => path.relative(process.cwd(), path.join(ROOT, p));

const KINDS = [
  { dir: "test/fixtures/config/rules", load: (p: string) => loadRuleFile(p) },
  { dir: "test/fixtures/config/standby", load: (p: string) => loadConfig(p) },
] as const;

for (const { dir, load } of KINDS) {
  const files = readdirSync(path.join(ROOT, dir)).sort();
  const good = files.filter((f) => f.endsWith(".good.yaml"));
  const bad = files.filter((f) => f.endsWith(".bad.yaml"));

  describe(dir, () => {
    it("has fixtures, and an .errors file for every bad one", () => {
      expect(good.length).toBeGreaterThan(0);
      expect(bad.length).toBeGreaterThan(0);
      for (const f of bad) expect(files).toContain(f.replace(/\.yaml$/, ".errors"));
    });

    it.each(good)("%s loads", async (f) => {
      const r = await load(rel(`${dir}/${f}`));
      expect(r.ok ? [] : r.errors.map(formatError)).toEqual([]);
    });

    it.each(bad)("%s gives exactly the expected errors", async (f) => {
      const r = await load(rel(`${dir}/${f}`));
      const expected = readFileSync(path.join(ROOT, dir, f.replace(/\.yaml$/, ".errors")), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.replaceAll("test/fixtures/", `${rel("test/fixtures")}/`))
        .map((l) => l.replaceAll("{COLLECTOR_TYPES}", COLLECTOR_TYPES.join(", ")));
      expect(r.ok).toBe(false);
      expect(r.ok ? [] : r.errors.map(formatError)).toEqual(expected);
    });
  });
}

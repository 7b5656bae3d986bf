import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCheck } from "../../../src/cli/check.js";
import { memoryIo } from "../../../src/cli/io.js";
import { runSchema } from "../../../src/cli/schema.js";

const EXAMPLE_RULES = ["uplink", "psu", "raid", "nic", "cpu", "filesystem"].map((n) => `rules/${n}.yaml`);

describe("standby check", () => {
  it("exits 0 with a summary on a good config", async () => {
    const io = memoryIo();
    expect(await runCheck({ config: "etc/standby.yaml" }, io)).toBe(0);
    expect(io.stdout).toEqual(["config OK: 15 rules in 7 files, 1 group, 3 collectors"]);
    expect(io.stderr).toEqual([]);
  });

  it("checks positional files as rule files", async () => {
    const io = memoryIo();
    expect(await runCheck({ files: EXAMPLE_RULES }, io)).toBe(0);
    expect(io.stdout).toEqual(["rules OK: 13 rules in 6 files"]);
  });

  it("exits 1 and prints every error, one a line, on stderr only", async () => {
    const io = memoryIo();
    const file = "test/fixtures/config/rules/several.bad.yaml";
    expect(await runCheck({ files: [file] }, io)).toBe(1);
    expect(io.stdout).toEqual([]);
    const expected = readFileSync(file.replace(/\.yaml$/, ".errors"), "utf8")
      .trimEnd()
      .split("\n");
    expect(io.stderr).toEqual(expected);
  });

  it("reports duplicate rule names across the files named", async () => {
    const io = memoryIo();
    const files = ["test/fixtures/config/standby/dup/a.yaml", "test/fixtures/config/standby/dup/b.yaml"];
    expect(await runCheck({ files }, io)).toBe(1);
    expect(io.stderr).toEqual([
      'test/fixtures/config/standby/dup/b.yaml:5:11: rule "gw-a-down": name: duplicate rule name "gw-a-down"; ' +
        "the first one is at test/fixtures/config/standby/dup/a.yaml:2:11",
    ]);
  });

  it("checks both the config and the files when both are given", async () => {
    const io = memoryIo();
    const code = await runCheck(
      { config: "etc/standby.yaml", files: ["test/fixtures/config/rules/empty.bad.yaml"] },
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr).toHaveLength(1);
  });

  it("exits 1 on a config file that is not there", async () => {
    const io = memoryIo();
    expect(await runCheck({ config: "test/fixtures/config/nothere.yaml" }, io)).toBe(1);
    expect(io.stderr).toEqual([
      "test/fixtures/config/nothere.yaml: cannot read the file: no such file (ENOENT)",
    ]);
  });
});

describe("standby schema", () => {
  it("prints the JSON Schema of standby.yaml", () => {
    const io = memoryIo();
    expect(runSchema({}, io)).toBe(0);
    const schema = JSON.parse(io.stdout.join("\n"));
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(Object.keys(schema.properties)).toEqual([
      "host",
      "state_dir",
      "rules",
      "collectors",
      "groups",
      "notify",
      "sinks",
      "api",
    ]);
    expect(schema.additionalProperties).toBe(false);
    // Input side: durations are strings as users write them.
    expect(schema.properties.state_dir.type).toBe("string");
  });

  it("prints the JSON Schema of a rule file with --rules", () => {
    const io = memoryIo();
    expect(runSchema({ rules: true }, io)).toBe(0);
    const schema = JSON.parse(io.stdout.join("\n"));
    const rule = schema.properties.rules.items;
    expect(rule.required).toEqual(["name", "metric", "problem"]);
    expect(rule.additionalProperties).toBe(false);
    expect(rule.properties.for.type).toBe("string");
    expect(rule.properties.severity.enum).toEqual(["critical", "warning"]);
  });
});

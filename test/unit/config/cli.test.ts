import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCheck } from "../../../src/cli/commands/check.js";
import { runSchema } from "../../../src/cli/commands/schema.js";
import { memoryIo } from "../../../src/cli/io.js";

const EXAMPLE_RULES = ["uplink", "psu", "raid", "smart", "snmp", "nic", "cpu", "filesystem"].map(
  (n) => `rules/${n}.yaml`,
);

describe("standby check", () => {
  it("exits 0 with a summary on a good config", async () => {
    const io = memoryIo();
    expect(await runCheck({ config: "etc/standby.yaml" }, io)).toBe(0);
    expect(io.stdout).toEqual(["config OK: 9 rules in 4 files, 1 group, 3 collectors"]);
    expect(io.stderr).toEqual([]);
  });

  it("the hardware example (etc/server.yaml: ipmi, md, smart, a drain group) is a good config", async () => {
    const io = memoryIo();
    expect(await runCheck({ config: "etc/server.yaml" }, io)).toBe(0);
    expect(io.stdout).toEqual(["config OK: 15 rules in 3 files, 1 group, 3 collectors"]);
    expect(io.stderr).toEqual([]);
  });

  it("checks positional files as rule files", async () => {
    const io = memoryIo();
    expect(await runCheck({ files: EXAMPLE_RULES }, io)).toBe(0);
    expect(io.stdout).toEqual(["rules OK: 29 rules in 8 files"]);
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
      "cluster",
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

describe("standby check warns when verify cannot succeed (issue 6 item 16)", () => {
  const rules = `rules:
  - name: svc-slow-recovery
    metric: probe.success
    labels: {collector: svc}
    problem: "max over 3 samples == 0"
    recover_for: 10s
  - name: svc-window
    metric: probe.success
    labels: {collector: svc}
    problem: "max over 3 samples == 0"
    recovery: "min over 10 samples == 1"
  - name: svc-quick
    metric: probe.success
    labels: {collector: svc}
    problem: "max over 3 samples == 0"
`;
  const config = (within: string, verifyRules: string) => `rules: [rules.yaml]
collectors:
  - {name: svc, type: probe, interval: 1s, timeout: 900ms, probe: {kind: tcp, target: "127.0.0.1:80"}}
groups:
  - name: web
    members:
      - {name: a, priority: 2}
      - {name: b, priority: 1}
    verify:
      rules: [${verifyRules}]
      within: ${within}
`;
  async function check(within: string, verifyRules: string) {
    const dir = mkdtempSync(join(tmpdir(), "sb-check-"));
    writeFileSync(join(dir, "rules.yaml"), rules);
    const file = join(dir, "standby.yaml");
    writeFileSync(file, config(within, verifyRules));
    const io = memoryIo();
    const code = await runCheck({ config: file }, io);
    rmSync(dir, { recursive: true, force: true });
    return { code, io, file };
  }

  it("verify.within shorter than a verify rule's recover_for or recovery window: a warning at FILE:LINE:COL", async () => {
    const { code, io, file } = await check("5s", "svc-slow-recovery, svc-window, svc-quick");
    expect(code).toBe(0);
    expect(io.stdout).toEqual(["config OK: 3 rules in 1 file, 1 group, 1 collector"]);
    expect(io.stderr).toEqual([
      `${file}:11:15: warning: group "web": verify.within 5s is shorter than rule "svc-slow-recovery" can recover after a switch (its recover_for 10s): a switch would always fail verification while it fires`,
      `${file}:11:15: warning: group "web": verify.within 5s is shorter than rule "svc-window" can recover after a switch (its recovery "min over 10 samples == 1" needs 10 samples, 9s at the 1s interval of collector "svc"): a switch would always fail verification while it fires`,
    ]);
  });

  it("a within long enough, or a rule that can recover at once: no warning", async () => {
    const { code, io } = await check("15s", "svc-slow-recovery, svc-window, svc-quick");
    expect(code).toBe(0);
    expect(io.stderr).toEqual([]);
    expect((await check("1s", "svc-quick")).io.stderr).toEqual([]);
  });
});

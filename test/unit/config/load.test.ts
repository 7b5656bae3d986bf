import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConfigError,
  closest,
  formatError,
  loadConfig,
  loadConfigText,
  loadRuleFile,
  loadRuleFileText,
} from "../../../src/config/load.js";
import type { Config } from "../../../src/config/schema.js";

const FIXTURES = "test/fixtures/config/standby";
const isRoot = process.getuid?.() === 0;
/** CI runs as root: there, the root-only tests must run (or fail), never skip. */
const CI = process.env.CI === "true";

async function config(file: string): Promise<Config> {
  const r = await loadConfig(file);
  if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
  return r.config;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "standby-config-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("the shipped examples", () => {
  it("every file in rules/ loads", async () => {
    const files = (await readdir("rules")).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual([
      "cpu.yaml",
      "filesystem.yaml",
      "gateway.yaml",
      "nic.yaml",
      "psu.yaml",
      "raid.yaml",
      "smart.yaml",
      "snmp.yaml",
      "uplink.yaml",
    ]);
    for (const f of files) {
      const r = await loadRuleFile(`rules/${f}`);
      expect(r.ok ? [] : r.errors.map(formatError)).toEqual([]);
      if (r.ok) for (const rule of r.rules) expect(rule.description, rule.name).toBeTruthy();
    }
  });

  it("etc/standby.yaml loads with the rules its collectors feed, without a warning", async () => {
    const r = await loadConfig("etc/standby.yaml");
    expect(r.ok && r.warnings).toBe(undefined);
    const c = await config("etc/standby.yaml");
    expect(c.ruleFiles).toEqual([
      "rules/uplink.yaml",
      "rules/cpu.yaml",
      "rules/nic.yaml",
      "rules/filesystem.yaml",
    ]);
    expect(c.groups.map((g) => g.name)).toEqual(["uplink"]);
    expect(c.collectors.map((c) => `${c.name}:${c.type}`)).toEqual(["local:os", "gw-a:probe", "gw-b:probe"]);
    expect(c.host).toBe(hostname());
  });

  it("warns, with positions, about rules no configured collector feeds (typos that passed check before)", async () => {
    const r = await loadConfig("test/fixtures/config/catalogue/standby.yaml");
    expect(r.ok).toBe(true);
    const F = "test/fixtures/config/catalogue/rules.yaml";
    expect(r.ok ? (r.warnings ?? []).map(formatError) : []).toEqual([
      `${F}:3:33: warning: rule "typo-metric": metric: no collector emits "probe.sucess"; did you mean "probe.success"?`,
      `${F}:4:71: warning: rule "typo-collector": labels.collector: no configured collector is named "gw-aa" (did you mean "gw-a"?); configured: local, gw-a`,
      `${F}:5:75: warning: rule "wrong-collector": labels.collector: collector "gw-a" (probe) does not emit "cpu.load_percent"; it emits probe.success, probe.rtt_ms`,
      `${F}:6:59: warning: rule "typo-label": labels.dev: "nic.link_up" has no label "dev"; its labels: host, collector, device`,
      `${F}:7:36: warning: rule "not-configured": metric: no collector emits "ipmi.psu"`,
    ]);
  });

  it.each(["etc/default.yaml", "examples/uplink/standby.yaml"])(
    "%s loads without a warning",
    async (file) => {
      const r = await loadConfig(file);
      expect(r.ok ? (r.warnings ?? []).map(formatError) : r.errors.map(formatError)).toEqual([]);
    },
  );

  it("warns when a group that moves the default route judges a member on a `target: gateway` probe (it follows that route)", async () => {
    const dir = await mkdtemp(path.join(tmp, "gw-"));
    await writeFile(
      path.join(dir, "rules.yaml"),
      `rules:\n  - {name: gw-down, metric: probe.success, labels: {collector: gw}, problem: "last == 0"}\n`,
    );
    const text = (route: string) => `rules: [rules.yaml]
collectors:
  - {name: gw, type: probe, probe: {kind: icmp, target: gateway}}
groups:
  - name: uplink
    members:
      - {name: a, priority: 2, health: [gw-down], activate: [${route}]}
      - {name: b, priority: 1}
`;
    const warnings = async (route: string) => {
      await writeFile(path.join(dir, "standby.yaml"), text(route));
      const r = await loadConfig(path.join(dir, "standby.yaml"));
      if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
      return (r.warnings ?? []).map(formatError);
    };
    expect(await warnings("{route: {to: default, via: 192.0.2.1}}")).toEqual([
      `${path.join(dir, "standby.yaml")}:7:41: warning: group "uplink": rule "gw-down" (member a) reads collector "gw", whose probe has target: gateway and follows the default route — the route this group's actions move: after a switch it would measure the uplink switched to; name this member's gateway by its address`,
    ]);
    // The same route written as ip would also print it: the same warning.
    expect(await warnings("{route: {to: 0.0.0.0/0, via: 192.0.2.1, table: 254}}")).toHaveLength(1);
    // Another table (policy routing), the IPv6 default (the probe reads IPv4's), or no route action: nothing to say.
    expect(await warnings("{route: {to: default, via: 192.0.2.1, table: 101}}")).toEqual([]);
    expect(await warnings("{route: {to: default, via: '2001:db8::1'}}")).toEqual([]);
    expect(await warnings("{exec: {argv: [/bin/true]}}")).toEqual([]);
  });

  it("examples/uplink/standby.yaml loads", async () => {
    await config("examples/uplink/standby.yaml");
  });
});

describe("the validated config", () => {
  it("parses durations, spans, conditions and defaults into the engine's types", async () => {
    const r = await loadRuleFile("test/fixtures/config/rules/all-keys.good.yaml");
    if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
    const [down, hot, empty] = r.rules;
    expect(down).toEqual({
      name: "gw-a-down",
      description: "three probes in a row lost",
      metric: "probe.success",
      labels: { collector: "gw-a", slot: "1", device: "eth*" },
      problem: {
        text: "max over 3 samples == 0",
        fn: "max",
        window: { kind: "samples", n: 3 },
        op: "==",
        value: 0,
      },
      recovery: {
        text: "min over 10 samples == 1",
        fn: "min",
        window: { kind: "samples", n: 10 },
        op: "==",
        value: 1,
      },
      for: { kind: "samples", n: 3 },
      recover_for: { kind: "time", ms: 90_000 },
      stale_after: 250,
      severity: "critical",
      flap: { history: 30, low: 10, high: 40 },
      source: { file: "test/fixtures/config/rules/all-keys.good.yaml", line: 3, col: 5 },
    });
    expect(hot?.severity).toBe("warning");
    expect(hot?.flap).toBe(false);
    expect(hot?.recovery).toMatchObject({
      text: "avg over 1m < 75",
      fn: "avg",
      window: { kind: "time", ms: 60_000 },
    });
    expect(empty?.severity).toBe("critical");
    expect(empty?.labels).toEqual({});
    expect(empty?.flap).toEqual({ history: 21, low: 5, high: 20 });
    expect(empty?.problem).toEqual({ text: "!= ok", fn: "last", op: "!=", value: 0 });
  });

  it("sorts members by priority, fills group defaults and sets the source", async () => {
    const c = await config(`${FIXTURES}/full.good.yaml`);
    const [uplink, web] = c.groups;
    expect(uplink?.members.map((m) => m.name)).toEqual(["isp-a", "isp-b"]);
    expect(uplink?.failback).toEqual({ mode: "auto", hold: 30_000, max_hold: 240_000 });
    expect(uplink?.damping).toEqual({ max_switches: 4, within: 600_000 });
    expect(uplink?.verify).toEqual({ rules: ["service-unreachable"], within: 5000 });
    expect(uplink?.min_healthy).toBe(2);
    expect(uplink?.source).toEqual({ file: `${FIXTURES}/full.good.yaml`, line: 20, col: 5 });
    expect(uplink?.members[0]?.health).toEqual([
      { rule: "gw-a-down" },
      { rule: "gw-a-slow", labels: { collector: "gw-a" } },
    ]);
    expect(web?.failback).toEqual({ mode: "manual", hold: 30_000, max_hold: 240_000 });
    expect(web?.members[1]).toEqual({ name: "spare", priority: 1, health: [], activate: [], deactivate: [] });
  });

  it("fills action defaults", async () => {
    const c = await config(`${FIXTURES}/full.good.yaml`);
    const a = c.groups[0]!.members[0]!;
    expect(a.activate).toEqual([
      { route: { to: "default", via: "10.200.1.1", timeout: 5000 } },
      { address: { address: "10.200.1.2/24", dev: "eth1", state: "present", timeout: 5000 } },
      {
        exec: {
          argv: ["/usr/local/bin/announce", "isp-a"],
          env: {
            MODE: "fast",
            KEY: { kind: "file", path: path.resolve(FIXTURES, "auth.key") },
            PRIV: { kind: "env", name: "PRIV" },
          },
          shell: false,
          timeout: 10_000,
        },
      },
      {
        http: {
          url: "http://127.0.0.1:9000/hook",
          method: "POST",
          headers: {
            Authorization: { kind: "file", path: path.resolve(FIXTURES, "hook.token") },
            "X-Source": "standby",
          },
          timeout: 5000,
        },
      },
      { bond: { dev: "bond0", active_slave: "eth1", timeout: 5000 } },
    ]);
    expect(a.deactivate).toEqual([
      { address: { address: "10.200.1.2/24", dev: "eth1", state: "absent", timeout: 5000 } },
    ]);
  });

  it("reads secrets from env, file (relative to the config file) or inline", async () => {
    const c = await config(`${FIXTURES}/full.good.yaml`);
    const exec = c.groups[0]!.members[0]!.activate.find((a) => "exec" in a);
    expect(exec && "exec" in exec ? exec.exec.env : undefined).toEqual({
      MODE: "fast",
      KEY: { kind: "file", path: path.resolve(FIXTURES, "auth.key") },
      PRIV: { kind: "env", name: "PRIV" },
    });
    expect(c.api).toEqual({
      socket: "/run/standby/api.sock",
      listen: "127.0.0.1:9477",
      token: { kind: "file", path: "/etc/standby/api.token" },
      metrics: false,
    });
  });

  it("resolves paths against the config file's directory and fills collector defaults", async () => {
    const c = await config(`${FIXTURES}/full.good.yaml`);
    expect(c.state_dir).toBe(path.resolve(FIXTURES, "state"));
    const byName = Object.fromEntries(c.collectors.map((x) => [x.name, x]));
    expect(byName.local).toEqual({
      name: "local",
      type: "os",
      interval: 5000,
      timeout: 5000,
      root: path.resolve(FIXTURES, "sys"),
    });
    expect(byName["gw-a"]).toMatchObject({ interval: 100, timeout: 90 });
    expect(byName.web).toMatchObject({ interval: 1000, timeout: 1000 });
    expect(c.notify).toHaveLength(2);
    expect(c.ruleFiles).toEqual([`${FIXTURES}/rules.d/service.yaml`, `${FIXTURES}/rules.d/uplink.yaml`]);
  });

  it("defaults host, state_dir and empty sections", async () => {
    const c = await config(`${FIXTURES}/empty-map.good.yaml`);
    expect(c).toEqual({
      host: hostname(),
      state_dir: "/var/lib/standby",
      rules: [],
      ruleFiles: [],
      collectors: [],
      groups: [],
      notify: [],
      sinks: {},
      api: { socket: "/run/standby/api.sock", metrics: false },
      configFile: `${FIXTURES}/empty-map.good.yaml`,
    });
  });

  it("validates a config from text, loading rule files relative to its path", async () => {
    const text =
      "rules: [rules.d/uplink.yaml]\ngroups:\n  - {name: g, members: [{name: a, priority: 1, health: [gw-b-dwn]}]}\n";
    const r = await loadConfigText(text, `${FIXTURES}/inline.yaml`);
    expect(r.ok ? [] : r.errors.map(formatError)).toEqual([
      `${FIXTURES}/inline.yaml:3:57: group "g": member "a": health[0]: no rule named "gw-b-dwn"; did you mean "gw-b-down"?`,
    ]);
  });
});

describe("files that cannot be used", () => {
  it("a file that is not there, or a directory", async () => {
    const r = await loadRuleFile(path.join(tmp, "nothere.yaml"));
    expect(r.ok ? [] : r.errors.map(formatError)).toEqual([
      `${tmp}/nothere.yaml: cannot read the file: no such file (ENOENT)`,
    ]);
    const d = await loadConfig(tmp);
    expect(d.ok ? [] : d.errors.map(formatError)).toEqual([`${tmp}: is a directory; expected a YAML file`]);
  });

  it.skipIf(!isRoot && !CI)(
    "as root, a world- or group-writable rule or config file is refused, and says how to fix it",
    async () => {
      if (!isRoot) throw new Error("CI=true but not root: CI runs the tests as root (this one needs it)");
      const rules = path.join(tmp, "writable.yaml");
      await writeFile(rules, "rules: []\n");
      await chmod(rules, 0o666);
      const r = await loadRuleFile(rules);
      expect(r.ok ? [] : r.errors.map(formatError)).toEqual([
        `${rules}: refusing a world-writable file (mode 0666) while running as root: whoever can write it can make ` +
          `standby run commands as root; fix with: chmod go-w ${rules}`,
      ]);

      const conf = path.join(tmp, "standby.yaml");
      await writeFile(conf, "rules: [writable.yaml]\n");
      await chmod(conf, 0o664);
      const c = await loadConfig(conf);
      expect(c.ok ? [] : c.errors.map((e) => e.message)).toEqual([
        "refusing a group-writable file (mode 0664) while running as root: whoever can write it can make " +
          `standby run commands as root; fix with: chmod go-w ${conf}`,
      ]);

      // The rule file named by a good config is checked too.
      await chmod(conf, 0o644);
      const c2 = await loadConfig(conf);
      expect(c2.ok ? [] : c2.errors.map((e) => e.file)).toEqual([rules]);

      await chmod(rules, 0o644);
      expect((await loadConfig(conf)).ok).toBe(true);
    },
  );

  it("the permission check can be turned off (not root) and on (as root) explicitly", async () => {
    const rules = path.join(tmp, "writable2.yaml");
    await writeFile(rules, "rules: []\n");
    await chmod(rules, 0o646);
    expect((await loadRuleFile(rules, { asRoot: false })).ok).toBe(true);
    const r = await loadRuleFile(rules, { asRoot: true });
    expect(r.ok ? "" : r.errors[0]?.message).toMatch(/^refusing a world-writable file \(mode 0646\)/);
  });

  it("random bytes in a file never crash the loader", async () => {
    const file = path.join(tmp, "garbage.yaml");
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        await writeFile(file, bytes, { mode: 0o644 });
        const r = await loadConfig(file);
        if (!r.ok) checkErrors(r.errors);
      }),
      { numRuns: 100 },
    );
  });
});

/** Every error is well formed: a position (when it has one) from 1, one line. */
function checkErrors(errors: readonly ConfigError[]) {
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) {
    if (e.line !== undefined) {
      expect(e.line).toBeGreaterThanOrEqual(1);
      expect(e.col).toBeGreaterThanOrEqual(1);
    }
    expect(formatError(e)).not.toMatch(/[\n\r]/);
    expect(e.message).not.toMatch(/internal error/);
  }
}

describe("never crashes on malformed input", () => {
  const TOKENS = [
    "rules:",
    "\n",
    "  ",
    "- ",
    "name: ",
    "gw-a",
    "metric: ",
    "probe.success",
    "problem: ",
    '"max over 3 samples == 0"',
    "in [failed, absent]",
    "for: ",
    "5s",
    "3 samples",
    "flap: ",
    "false",
    "{",
    "}",
    "[",
    "]",
    ", ",
    ": ",
    "'",
    '"',
    "&a ",
    "*a",
    "<<: *a",
    "---",
    "? ",
    "!!binary ",
    "!!set ",
    "|",
    ">",
    "#",
    "\t",
    "null",
    "~",
    "1e999",
    "\\",
    "severity: ",
    "labels: ",
    "\u00e9",
    "\ud83d\ude00",
    "\u0085",
    "\uFEFF",
  ];
  const yamlish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(""));

  it("rule files", () => {
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ unit: "binary", maxLength: 80 })), (text) => {
        const r = loadRuleFileText(text, "fuzz.yaml");
        if (!r.ok) checkErrors(r.errors);
      }),
      { numRuns: 500 },
    );
  });

  it("config files", async () => {
    const CONF_TOKENS = [
      "collectors:",
      "groups:",
      "- ",
      "name: ",
      "x",
      "type: ",
      "os",
      "probe",
      "members: ",
      "priority: ",
      "1",
      "health: ",
      "activate: ",
      "route: ",
      "{to: default}",
      "secret: ",
      "{env: X}",
      "sinks:",
      "influx:",
      "api:",
    ];
    const text = fc
      .array(fc.constantFrom(...TOKENS, ...CONF_TOKENS), { maxLength: 40 })
      .map((t) => t.join(""));
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        const r = await loadConfigText(t, path.join(tmp, "fuzz.yaml"));
        if (!r.ok) checkErrors(r.errors);
      }),
      { numRuns: 300 },
    );
  });

  it("a billion laughs is an error, not a hang", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 9; i++) {
      const prev = String.fromCharCode(97 + i);
      const cur = String.fromCharCode(98 + i);
      lines.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    lines.push("rules: *j");
    const r = loadRuleFileText(lines.join("\n"), "lol.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) checkErrors(r.errors);
  });
});

describe("closest", () => {
  it("suggests a near name, not a far one", () => {
    expect(closest("gw-a-dwon", ["gw-a-down", "gw-b-down"])).toBe("gw-a-down");
    expect(closest("isp-b-gateway-lost", ["gw-a-down", "gw-b-down"])).toBeUndefined();
    expect(closest("x", [])).toBeUndefined();
  });
});

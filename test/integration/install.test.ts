/**
 * scripts/install.sh into a temporary root, then the installed program as an operator runs it.
 *
 * `DESTDIR=<tmp> STANDBY_INSTALL_RELOCATABLE=1 scripts/install.sh`: the same files as a real install, but the
 * wrapper (<tmp>/usr/bin/standby) and standby.yaml name paths inside <tmp> (the program, state_dir, rules.d,
 * the API token), so the installed wrapper runs the installed program with the installed config. The installed
 * config is etc/default.yaml made observe-only for the installed layout (asserted through the config loader: no
 * member has an action); the examples with actions (etc/standby.yaml, etc/server.yaml) go to
 * /usr/lib/standby/examples/. The daemon still runs in a network namespace of its own (sb-inst-*, deleted after),
 * where its API's 127.0.0.1:9477 is free and nothing of the host is in reach. Needs root and `ip`; skipped
 * without them, except under CI=true.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatError, loadConfig } from "../../src/config/load.js";
import type { DaemonStatus } from "../../src/daemon/daemon.js";
import { assertBuilt } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..").replace(/\/dist$/, "");
const NS = `sb-inst-${process.pid}`;
const EXAMPLES = readdirSync(join(ROOT, "etc"))
  .filter((f) => f.endsWith(".yaml") && f !== "default.yaml")
  .sort();

/** Every action of every member of the config `file` (loaded with the project's loader), as "group/member". */
async function actionsOf(file: string): Promise<string[]> {
  const r = await loadConfig(file);
  if (!r.ok) throw new Error(`${file}: ${r.errors.map(formatError).join("\n")}`);
  return r.config.groups.flatMap((g) =>
    g.members.flatMap((m) =>
      [...m.activate, ...m.deactivate].map((a) => `${g.name}/${m.name}: ${Object.keys(a).join()}`),
    ),
  );
}

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (the installed daemon runs in a network namespace)";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore", timeout: 5000 });
  } catch {
    return "`ip netns` (iproute2) does not work here";
  }
  return undefined;
}
const why = missing();
failInCiWhenMissing("scripts/install.sh into DESTDIR", why);

describe.skipIf(why !== undefined)("scripts/install.sh into DESTDIR", () => {
  let root: string;
  let daemon: ChildProcess | undefined;
  let stderr = "";
  const wrapper = () => join(root, "usr/bin/standby");
  const lib = () => join(root, "usr/lib/standby");
  const config = () => join(root, "etc/standby/standby.yaml");
  const examples = () => join(lib(), "examples");
  const rulesD = () => join(root, "etc/standby/rules.d");
  /** The config a fresh install wrote, for the upgrade tests. */
  let fresh = "";
  const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

  const install = async (...args: string[]) =>
    run("bash", [join(ROOT, "scripts/install.sh"), ...args], {
      cwd: ROOT,
      env: { ...process.env, DESTDIR: root, STANDBY_INSTALL_RELOCATABLE: "1" },
      timeout: 60_000,
    });

  /**
   * How the test reaches the installed daemon: `standby status --json` through the installed wrapper, in the
   * daemon's namespace: over the API's Unix socket (a relocatable install puts it under DESTDIR/run/standby).
   */
  const daemonStatus = async (): Promise<DaemonStatus> => {
    const r = await run("ip", ["netns", "exec", NS, wrapper(), "status", "--config", config(), "--json"], {
      timeout: 10_000,
    });
    return JSON.parse(r.stdout) as DaemonStatus;
  };

  beforeAll(async () => {
    assertBuilt();
    root = mkdtempSync(join(tmpdir(), "sb-install-"));
    execFileSync("ip", ["netns", "add", NS], { timeout: 5000 });
    execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"], { timeout: 5000 });
    await install();
  }, 90_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill("SIGKILL");
      await new Promise((r) => daemon!.once("exit", r));
    }
    try {
      execFileSync("ip", ["netns", "del", NS], { stdio: "ignore", timeout: 5000 });
    } catch {}
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("lays out the program, the wrapper, the unit, the config, the rules and the token", () => {
    for (const f of ["dist/src/cli/main.js", "dist/collectors/index.js", "package.json", "package-lock.json"])
      expect(existsSync(join(lib(), f)), f).toBe(true);
    expect(readdirSync(join(lib(), "rules"))).toContain("uplink.yaml");
    expect(readdirSync(join(lib(), "grafana")).length).toBeGreaterThan(0);
    expect(existsSync(join(lib(), "dist/test")) || existsSync(join(lib(), "dist/bench"))).toBe(false);
    // 0755 directories, 0644 files, all through the program's tree.
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          expect(mode(p), p).toBe("755");
          walk(p);
        } else if (e.isFile()) expect(mode(p), p).toBe("644");
      }
    };
    walk(lib());

    const sh = readFileSync(wrapper(), "utf8");
    expect(mode(wrapper())).toBe("755");
    expect(sh).toMatch(/^#!\/bin\/sh\n/);
    expect(sh).toMatch(new RegExp(`exec '/[^']*node' '${lib()}/dist/src/cli/main.js' "\\$@"`));

    const unit = join(root, "usr/lib/systemd/system/standby.service");
    expect(readFileSync(unit, "utf8")).toBe(readFileSync(join(ROOT, "systemd/standby.service"), "utf8"));
    // The unit's Group=standby: the group for systemd-sysusers.
    expect(readFileSync(join(root, "usr/lib/sysusers.d/standby.conf"), "utf8")).toMatch(/^g standby -$/m);

    const yaml = readFileSync(config(), "utf8");
    expect(mode(config())).toBe("640");
    expect(yaml).toContain(`\nstate_dir: ${root}/var/lib/standby\n`);
    expect(yaml).toContain(`\nrules: ["${root}/etc/standby/rules.d/*.yaml"]\n`);
    expect(yaml).toContain(`token: { file: ${root}/etc/standby/api.token }`);
    expect(yaml).toMatch(/^# Installed by scripts\/install.sh from etc\/default.yaml: OBSERVE-ONLY/);
    expect(yaml).not.toContain("../state");
    fresh = yaml;
    // The rule files etc/default.yaml names.
    expect(readdirSync(rulesD()).sort()).toEqual(["cpu.yaml", "filesystem.yaml", "gateway.yaml", "nic.yaml"]);
    // The examples, read-only (0644 as all of the program's tree, checked above).
    expect(EXAMPLES).toEqual(["server.yaml", "standby.yaml"]);
    expect(readdirSync(examples()).sort()).toEqual(EXAMPLES);
    const token = join(root, "etc/standby/api.token");
    expect(mode(token)).toBe("600");
    expect(readFileSync(token, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it("installs the production dependencies only", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const nm = join(lib(), "node_modules");
    for (const d of Object.keys(pkg.dependencies)) expect(existsSync(join(nm, d)), d).toBe(true);
    // What the production tree needs (a devDependency may be one too: protobufjs, under etcd3, depends on
    // @types/node); everything else of the dev tree must be absent.
    const prod = new Set(
      execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
      })
        .split("\n")
        .map((l) => l.split("/node_modules/").slice(1).join("/node_modules/"))
        .filter(Boolean),
    );
    const devOnly = [
      ...Object.keys(pkg.devDependencies),
      "vitest",
      "typescript",
      "@biomejs/biome",
      "madge",
    ].filter((d) => !prod.has(d));
    expect(devOnly).toEqual(expect.arrayContaining(["vitest", "typescript", "playwright-core"]));
    for (const d of devOnly) expect(existsSync(join(nm, d)), d).toBe(false);
    expect(existsSync(join(nm, ".bin"))).toBe(false);
  });

  it("standby check passes with the installed config", async () => {
    const r = await run(wrapper(), ["check", "--config", config()], { timeout: 15_000 });
    expect(r.stdout).toMatch(/^config OK: \d+ rules in 4 files, 2 groups, 2 collectors/);
    expect(r.stderr).toBe("");
  });

  it("the installed config is observe-only: groups, members, and not one action", async () => {
    const r = await loadConfig(config());
    expect(r.ok && r.config.groups.length).toBe(2);
    expect(r.ok && r.config.groups.flatMap((g) => g.members).length).toBeGreaterThan(0);
    expect(await actionsOf(config())).toEqual([]);
  });

  it.each(EXAMPLES)(
    "the example %s is under /usr/lib/standby/examples, has actions, and passes standby check there and as a copy in /etc/standby",
    async (name) => {
      const ex = join(examples(), name);
      // Installed from etc/, with the rule files named under the program's rules/ (a copy finds them too).
      expect(readFileSync(ex, "utf8")).toMatch(
        new RegExp(`^# Installed by scripts/install.sh from etc/${name};`),
      );
      expect(readFileSync(ex, "utf8")).toMatch(new RegExp(`\nrules: \\[${lib()}/rules/`));
      expect((await actionsOf(ex)).length).toBeGreaterThan(0);
      const r = await run(wrapper(), ["check", "--config", ex], { timeout: 15_000 });
      expect(r.stdout).toMatch(/^config OK: /);
      const copy = join(root, "etc/standby", `copy-of-${name}`);
      writeFileSync(copy, readFileSync(ex));
      try {
        const c = await run(wrapper(), ["check", "--config", copy], { timeout: 15_000 });
        expect(c.stdout).toBe(r.stdout);
      } finally {
        rmSync(copy);
      }
    },
  );

  it("standby run starts and standby status answers", async () => {
    daemon = spawn("ip", ["netns", "exec", NS, wrapper(), "run", "--config", config()], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    let status: DaemonStatus | undefined;
    const t0 = Date.now();
    while (!status) {
      if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}): ${stderr}`);
      if (Date.now() - t0 > 20_000) throw new Error(`no status within 20 s: ${stderr}`);
      status = await daemonStatus().catch(() => undefined);
      if (!status) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status.config).toBe(config());
    expect(status.dry_run).toBe(false);
    // It was the socket: 0660, the permissions that are its authentication.
    expect(statSync(join(root, "run/standby/api.sock")).mode & 0o777).toBe(0o660);
    expect(status.groups.map((g) => g.name)).toEqual(["uplink", "host"]);
    expect(status.groups.map((g) => g.members.map((m) => m.name))).toEqual([
      ["default-gateway"],
      ["this-host"],
    ]);

    // The first events come with the os collector's first sample (the filesystem rules turn ok), which may
    // come after the API answers: wait for them, then stop it.
    const log = join(root, "var/lib/standby/events.jsonl");
    const readEvents = () =>
      existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
    for (const t1 = Date.now(); readEvents().length === 0; await new Promise((r) => setTimeout(r, 100)))
      if (Date.now() - t1 > 15_000) throw new Error(`no event within 15 s: ${stderr}`);
    const exited = new Promise<number | null>((r) => daemon!.once("exit", (code) => r(code)));
    daemon.kill("SIGTERM");
    expect(await exited).toBe(0);
    const events = readEvents();
    expect(events.length).toBeGreaterThan(0);
    // It ran nothing: no action event (the active member's route or address actions, reasserted at start, would be).
    expect(events.map((l) => (JSON.parse(l) as { kind: string }).kind)).not.toContain("action");
  }, 40_000);

  it("a second install keeps a changed standby.yaml (the new one beside it as .dist) and the token", async () => {
    const token = join(root, "etc/standby/api.token");
    const before = readFileSync(token, "utf8");
    const original = readFileSync(config(), "utf8");
    expect(original).toBe(fresh);
    const changed = original.replace(
      "{name: local, type: os, interval: 10s}",
      "{name: local, type: os, interval: 15s}",
    );
    expect(changed).not.toBe(original);
    writeFileSync(config(), changed);
    const r = await install();
    expect(r.stdout).toContain(`kept your ${config()}; the new version is ${config()}.dist`);
    expect(readFileSync(config(), "utf8")).toBe(changed);
    expect(readFileSync(`${config()}.dist`, "utf8")).toBe(original);
    expect(readFileSync(token, "utf8")).toBe(before);
    expect(mode(token)).toBe("600");
    // Unchanged rule files are left alone: no .dist beside them.
    expect(readdirSync(rulesD()).filter((f) => f.endsWith(".dist"))).toEqual([]);
  }, 70_000);

  it("an earlier install's two-uplink example is kept, with its rules.d; the new default goes beside it, with a note", async () => {
    // What scripts/install.sh wrote before the default was observe-only: the example, rules.d/*.yaml, the
    // uplink rules, and no gateway.yaml.
    const old = [
      `# Installed by scripts/install.sh from etc/standby.yaml. Rules: ${root}/etc/standby/rules.d/*.yaml (more examples in`,
      ...readFileSync(join(examples(), "standby.yaml"), "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("# Installed by"))
        .map((l) => (l.startsWith("rules:") ? `rules: ["${root}/etc/standby/rules.d/*.yaml"]` : l)),
    ].join("\n");
    writeFileSync(config(), old);
    writeFileSync(join(rulesD(), "uplink.yaml"), readFileSync(join(ROOT, "rules/uplink.yaml")));
    rmSync(join(rulesD(), "gateway.yaml"));
    const before = await run(wrapper(), ["check", "--config", config()], { timeout: 15_000 });
    expect(before.stdout).toMatch(/^config OK: 9 rules in 4 files, 1 group, 3 collectors/);

    const r = await install();
    expect(r.stdout).toContain(`NOTE: ${config()} is the two-uplink example an earlier install put there`);
    expect(r.stdout).toContain("mv /etc/standby/rules.d/gateway.yaml.dist /etc/standby/rules.d/gateway.yaml");
    expect(readFileSync(config(), "utf8")).toBe(old);
    expect(readFileSync(`${config()}.dist`, "utf8")).toBe(fresh);
    // What the kept config loads did not change: the new rule file is not a *.yaml of rules.d.
    expect(readdirSync(rulesD()).sort()).toEqual([
      "cpu.yaml",
      "filesystem.yaml",
      "gateway.yaml.dist",
      "nic.yaml",
      "uplink.yaml",
    ]);
    const after = await run(wrapper(), ["check", "--config", config()], { timeout: 15_000 });
    expect(after.stdout).toBe(before.stdout);
    expect(after.stderr).toBe(before.stderr);
  }, 70_000);

  it("--uninstall removes the program, the wrapper and the unit, and keeps config and state", async () => {
    const r = await install("--uninstall");
    expect(r.stdout).toContain("kept");
    for (const p of [
      "usr/lib/standby",
      "usr/bin/standby",
      "usr/lib/systemd/system/standby.service",
      "usr/lib/sysusers.d/standby.conf",
    ])
      expect(existsSync(join(root, p)), p).toBe(false);
    for (const p of [
      "etc/standby/standby.yaml",
      "etc/standby/api.token",
      "etc/standby/rules.d/nic.yaml",
      "var/lib/standby/events.jsonl",
    ])
      expect(existsSync(join(root, p)), p).toBe(true);
  }, 30_000);
});

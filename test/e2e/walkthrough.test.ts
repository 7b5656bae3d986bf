/**
 * README.md's "Your first failover group", run as a new user types it, so that it cannot drift from the code.
 *
 * The commands are extracted from README.md: every fenced block of that section carries a marker comment
 * (`<!-- walkthrough: run -->`, `run (…)`, `expect (…)` or `skip (reason)`), and a block without one fails the test.
 * `sh` blocks run as one bash script each; in `console` blocks a line `# CMD` is a command and the lines up to the
 * next command are its output, compared with what the command prints. The rehearsal's `standby run … --view`
 * ("the first shell") runs in the background; its output is compared with the README's `expect (the first shell's
 * output)` block, and the failover line of its event log with the README's json block.
 *
 * Substitutions — the smallest that let a test run it, applied alike to commands and to shown output:
 * - the install: `DESTDIR=<tmp root> STANDBY_INSTALL_RELOCATABLE=1 scripts/install.sh` instead of a root install
 *   (as test/integration/install.test.ts), so `/etc/standby` → `<root>/etc/standby` and `/usr/lib/standby` →
 *   `<root>/usr/lib/standby`; `standby` is the installed wrapper `<root>/usr/bin/standby`, first on PATH.
 * - `standby check` without `--config` gets `--config <root>/etc/standby/standby.yaml` (its default is the
 *   absolute /etc/standby/standby.yaml, which a relocatable install cannot change).
 * - `/tmp/` → a temporary directory of this test.
 * - the namespaces `sb-demo`, `sb-gw-a`, `sb-gw-b` get this process's id appended (`sb-demo-<pid>`), so that
 *   two runs (other worktrees) do not share them. Everything networked happens in these namespaces; they are
 *   deleted afterwards (also on failure) with the README's own removal commands, and again in afterAll.
 * - the shown output of `standby status` varies where a real run must: the host name, "up 4s" / "for 4s", the
 *   events' timestamps, and "…" (lines left out). The first shell's times are checked as durations relative to
 *   each other (the failback 30 s after isp-a is healthy again), not as absolute offsets; its rule lines are left
 *   out, as the README says. Commands observing the running daemon are retried until their output matches (the
 *   README shows them after the state settled), for at most 10 s.
 * Needs root, `ip` and `nft` (the testbed's tools); skipped without them, except under CI=true.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInCiWhenMissing } from "../peers/ci.js";
import { assertBuilt } from "./daemon-harness.js";
import { testbedSupport } from "./testbed.js";

const execFileP = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..").replace(/\/dist$/, "");
const SUITE = "README walkthrough: your first failover group";

interface Block {
  readonly marker: string;
  readonly lang: string;
  readonly body: string;
}

/** The fenced blocks of the README's walkthrough section, each with its marker (throws on an unmarked block). */
function walkthroughBlocks(readme: string): Block[] {
  const start = readme.indexOf("\n## Your first failover group\n");
  if (start < 0) throw new Error('README.md has no section "## Your first failover group"');
  const next = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const blocks: Block[] = [];
  const re = /(?:<!-- walkthrough: ([^\n]*?) -->\n)?```(\w*)\n([\s\S]*?)\n```/g;
  for (const m of section.matchAll(re)) {
    if (m[1] === undefined)
      throw new Error(`a walkthrough block has no <!-- walkthrough: … --> marker:\n${m[0]}`);
    blocks.push({ marker: m[1], lang: m[2] ?? "", body: m[3] ?? "" });
  }
  return blocks;
}

interface Step {
  readonly cmd: string;
  readonly out: string[];
}

/** A console block's commands (`# CMD`) and the output shown after each. */
function consoleSteps(body: string): Step[] {
  const steps: { cmd: string; out: string[] }[] = [];
  for (const line of body.split("\n")) {
    if (line.startsWith("# ")) steps.push({ cmd: line.slice(2), out: [] });
    else steps.at(-1)?.out.push(line);
  }
  return steps;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Whether `actual` is the shown `expected` output, allowing what varies between runs (see the header): the host
 * name after "standby on", durations after "up"/"for", timestamps, and "…" for any lines.
 */
function outputMatches(expected: string[], actual: string[], host: string): boolean {
  const pattern = firstHealthInOrder(expected)
    .map((line) => {
      if (line.trim() === "…") return "(?:[^\\n]*\\n)*?";
      const re = escapeRe(line)
        .replace(/^standby on \S+:/, `standby on ${escapeRe(host)}:`)
        .replace(/\b(up|for) \d+s\b/g, "$1 \\d[\\dhms ]*s")
        // how many rule instances (the host's filesystems, nics) and how many without data yet (the os
        // collector's first samples)
        .replace(/^rules: \d+ instances, \d+ not ok$/, "rules: \\d+ instances, \\d+ not ok")
        .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g, "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ");
      return `${re}\\n`;
    })
    .join("");
  return new RegExp(`^${pattern}$`).test(
    firstHealthInOrder(actual)
      .map((l) => `${l}\n`)
      .join(""),
  );
}

/**
 * The members' first health events (`unknown → healthy`) come in either order: their first probes race. Each run
 * of consecutive such lines sorted by the text after the time, in shown and in actual output alike.
 */
function firstHealthInOrder(lines: string[]): string[] {
  const out = [...lines];
  const key = (l: string) => l.replace(/^.*?health\b/, "");
  for (let i = 0; i < out.length; ) {
    let j = i;
    while (j < out.length && / unknown → healthy: /.test(out[j]!)) j++;
    if (j > i + 1) out.splice(i, j - i, ...out.slice(i, j).sort((a, b) => key(a).localeCompare(key(b))));
    i = Math.max(j, i + 1);
  }
  return out;
}

/** An event line of the live view: `+T  kind  subject — reason` → [seconds, the rest without the time]. */
function viewLine(line: string): [number, string] | undefined {
  const m = /^\s*\+(\d+\.\d+)s\s+(\S.*)$/.exec(line);
  return m ? [Number(m[1]), m[2]!.replace(/\s+/g, " ")] : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const support = await testbedSupport();
const why = support.ok ? undefined : support.reason;
failInCiWhenMissing(SUITE, why);

describe.skipIf(why !== undefined)(SUITE, () => {
  const blocks = walkthroughBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
  let root = "";
  let tmp = "";
  let env: NodeJS.ProcessEnv = {};
  const names = ["sb-demo", "sb-gw-a", "sb-gw-b"].map((n) => `${n}-${process.pid}`);
  let firstShell: ChildProcess | undefined;
  let firstOut = "";
  let firstErr = "";
  let firstExit: Promise<number | null> | undefined;
  /** Set when a step fails, so that the later ones (which build on it) do not run into timeouts. */
  let broken = false;

  /** The substitutions of the header, for commands and shown output alike. */
  const sub = (s: string) =>
    s
      .replaceAll("/tmp/", `${tmp}/`) // first: root and tmp are under the system's /tmp
      .replaceAll("/etc/standby", `${root}/etc/standby`)
      .replaceAll("/usr/lib/standby", `${root}/usr/lib/standby`)
      .replace(/\bsb-(demo|gw-a|gw-b)\b/g, `sb-$1-${process.pid}`)
      .replace(
        /\bstandby check(?! [^\n#]*--config)/g,
        `standby check --config ${root}/etc/standby/standby.yaml`,
      );

  const bash = async (script: string) => {
    try {
      const r = await execFileP("bash", ["-e", "-o", "pipefail", "-c", script], { env, timeout: 20_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? String(e) };
    }
  };

  const byMarker = (prefix: string) => blocks.filter((x) => x.marker.startsWith(prefix));
  /** This run's namespaces, and those a killed earlier run (its pid gone) left behind. */
  const delNamespaces = () => {
    const leftovers = execFileSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 5000 })
      .split("\n")
      .map((l) => /^(sb-(?:demo|gw-a|gw-b)-(\d+))\b/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && !alive(Number(m[2])))
      .map((m) => m[1]!);
    for (const n of [...names, ...leftovers])
      try {
        execFileSync("ip", ["netns", "del", n], { stdio: "ignore", timeout: 5000 });
      } catch {}
  };

  /** Runs a console block's commands; `live`: the daemon runs, so retry until the output is the shown one. */
  const runConsole = async (body: string, live: boolean, after?: (cmd: string) => Promise<void>) => {
    for (const step of consoleSteps(body)) {
      const cmd = sub(step.cmd);
      const expected = step.out.map(sub);
      const deadline = Date.now() + (live ? 10_000 : 0);
      for (;;) {
        const r = await bash(cmd);
        // Trailing blanks, invisible on a terminal, do not count (`ip route` ends its lines with one).
        const actual = r.stdout
          .replace(/\n$/, "")
          .split("\n")
          .map((l) => l.trimEnd());
        const ok =
          r.code === 0 &&
          (expected.length === 0 ? r.stdout === "" : outputMatches(expected, actual, hostname()));
        if (ok) break;
        if (Date.now() > deadline) {
          expect(`$ ${cmd}\n${r.stdout}${r.stderr}`).toBe(`$ ${cmd}\n${expected.join("\n")}\n`);
        }
        await new Promise((res) => setTimeout(res, 300));
      }
      await after?.(step.cmd);
    }
  };

  beforeAll(async () => {
    assertBuilt();
    root = mkdtempSync(join(tmpdir(), "sb-walk-root-"));
    tmp = mkdtempSync(join(tmpdir(), "sb-walk-tmp-"));
    env = { ...process.env, PATH: `${root}/usr/bin:${process.env.PATH ?? "/usr/bin:/bin"}` };
    delNamespaces();
    // Step 1's "scripts/install.sh (above)", relocated (the substitutions in the header).
    await execFileP("bash", [join(ROOT, "scripts/install.sh")], {
      cwd: ROOT,
      env: { ...process.env, DESTDIR: root, STANDBY_INSTALL_RELOCATABLE: "1" },
      timeout: 60_000,
    });
  }, 70_000);

  afterAll(async () => {
    if (firstShell && firstShell.exitCode === null && firstShell.signalCode === null) {
      process.kill(-firstShell.pid!, "SIGKILL");
      await firstExit;
    }
    delNamespaces();
    if (root) rmSync(root, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("the section's blocks are all marked, in the order this test follows", () => {
    expect(blocks.map((b) => `${b.lang}: ${b.marker.replace(/ \(.*$/, "")}`)).toEqual([
      "sh: run",
      "console: run",
      "sh: run",
      "console: run",
      "sh: run",
      "console: run",
      ": expect",
      "sh: skip",
      "sh: skip",
      "json: expect",
    ]);
    for (const b of blocks) expect(b.marker).toMatch(/^(run|expect \(.+\)|skip \(.+\))/);
  });

  it("1. copies the example over the installed config, and standby check says OK as shown", async () => {
    const [cp, check] = byMarker("run");
    const r = await bash(sub(cp!.body));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await runConsole(check!.body, false);
  }, 20_000);

  it("2. the simulated trace fails over as shown", async () => {
    const [, , gen, simulate] = byMarker("run");
    const r = await bash(sub(gen!.body));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await runConsole(simulate!.body, false);
  }, 20_000);

  it("3. the rehearsal in network namespaces: settles on isp-a, fails over on the nftables drop, fails back after the hold", async () => {
    broken = true;
    const setup = byMarker("run")[4]!.body;
    // Its last line, `ip netns exec sb-demo standby run … --view`, is the first shell: in the background here.
    const lines = setup.split("\n");
    const runLine = lines.findLastIndex((l) => /\bstandby run\b/.test(l));
    expect(runLine).toBe(lines.length - 1);
    const r = await bash(sub(lines.slice(0, runLine).join("\n")));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    firstShell = spawn("bash", ["-c", sub(lines[runLine]!)], {
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    firstShell.stdout!.setEncoding("utf8").on("data", (d: string) => (firstOut += d));
    firstShell.stderr!.setEncoding("utf8").on("data", (d: string) => (firstErr += d));
    const child = firstShell;
    firstExit = new Promise((res) => child.once("exit", (code) => res(code)));

    const demo = names[0]!;
    const route = () =>
      execFileSync("ip", ["-n", demo, "route", "show", "default"], { encoding: "utf8" }).trim();
    const primary = "default via 10.200.1.1 dev up-a";
    let repaired = 0;
    await runConsole(byMarker("run (the second shell")[0]!.body, true, async (cmd) => {
      expect(firstShell!.exitCode, firstErr).toBe(null);
      // "see it settle on isp-a": the default route is isp-a's when status shows it active.
      if (/standby status/.test(cmd)) expect(route()).toBe(primary);
      if (/nft delete table/.test(cmd)) repaired = Date.now();
    });
    expect(repaired).toBeGreaterThan(0);
    // "failback after the 30 s hold": isp-a is healthy again within a few seconds of the repair, the route
    // moves back 30 s after that — not before.
    let back = 0;
    while (Date.now() - repaired < 40_000) {
      if (route() === primary) {
        back = Date.now();
        break;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(back - repaired, firstOut).toBeGreaterThanOrEqual(30_000);
    expect(back - repaired, firstOut).toBeLessThan(36_000);
    broken = false;
  }, 60_000);

  it("3. the first shell showed each decision as the README does; Ctrl-C stops it; the README's commands remove the rehearsal", async () => {
    expect(broken).toBe(false);
    // Give the view the failback's action line.
    const deadline = Date.now() + 3000;
    while (!/activate isp-a: route ok/.test(firstOut) && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 100));
    const shown = byMarker("expect (the first shell")[0]!.body.split("\n").map(viewLine);
    const seen = firstOut
      .split("\n")
      .map(viewLine)
      .filter((e): e is [number, string] => e !== undefined && !e[1].startsWith("rule "));
    expect(firstHealthInOrder(seen.map((e) => e[1])).join("\n")).toBe(
      firstHealthInOrder(shown.map((e) => e![1])).join("\n"),
    );
    // The times relative to each other: failover with the unhealthy health, the failback the hold after isp-a healthy.
    const at = (list: ([number, string] | undefined)[], kind: string, n = 0) =>
      list.filter((e) => e?.[1].startsWith(`${kind} `))[n]![0];
    for (const list of [shown, seen]) {
      expect(at(list, "failover")).toBeCloseTo(at(list, "health", 2), 1);
      // In whole ms (the offsets are printed with 3 decimals; 59.3 - 29.3 is 29.999999999999996 in floating point).
      const holdMs = Math.round((at(list, "failback") - at(list, "health", 3)) * 1000);
      expect(holdMs).toBeGreaterThanOrEqual(30_000);
      expect(holdMs).toBeLessThan(30_500);
    }

    // The event log's failover line as the README shows it (its ts and host are this run's).
    const shownEvent = JSON.parse(byMarker("expect (the failover event")[0]!.body) as Record<string, unknown>;
    const events = readFileSync(join(tmp, `sb-demo-${process.pid}`, "state/events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failover = events.find((e) => e.kind === "failover");
    expect(failover).toBeDefined();
    expect(Object.keys(failover!)).toEqual(Object.keys(shownEvent));
    expect({ ...failover, ts: 0, labels: { ...(failover!.labels as object), host: "vm" } }).toEqual({
      ...shownEvent,
      ts: 0,
    });

    // "Ctrl-C stops it": SIGINT to the foreground process group, as a terminal sends it.
    process.kill(-firstShell!.pid!, "SIGINT");
    expect(await firstExit).toBe(0);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const removal = /Ctrl-C stops it; `([^`]+)`/.exec(readme);
    expect(removal, "the README's removal commands after 'Ctrl-C stops it;'").not.toBeNull();
    const r = await bash(sub(removal![1]!.replace(/\s*\n\s*/g, " ")));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    for (const n of names) expect(left).not.toMatch(new RegExp(`^${n}\\b`, "m"));
  }, 20_000);
});

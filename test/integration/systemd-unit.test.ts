/**
 * systemd/standby.service as systemd reads it:
 * - `systemd-analyze verify` on a copy whose /usr/bin/standby is a stub (a missing program is not what is tested),
 *   and any diagnostic fails the test: a misspelt key or a value systemd cannot parse is only a warning with exit
 *   code 0 (the negative control shows this test catches them);
 * - `systemd-analyze security --offline=yes`: exposure ≤ 5.0, the figure systemd/README.md records, and every
 *   remaining exposure explained there;
 * - every directive carries the comment that says why.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const UNIT = readFileSync("systemd/standby.service", "utf8");
/** The note, with the `\|` of its tables read as `|`. */
const README = readFileSync("systemd/README.md", "utf8").replaceAll("\\|", "|");

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The unit in a temp dir, its /usr/bin/standby replaced by a stub script, after `edit`. */
function copy(edit: (text: string) => string = (t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), "sb-unit-"));
  const stub = join(dir, "standby");
  writeFileSync(stub, "#!/bin/sh\nexit 0\n");
  chmodSync(stub, 0o755);
  const file = join(dir, "standby.service");
  writeFileSync(file, edit(UNIT.replaceAll("/usr/bin/standby ", `${stub} `)));
  return file;
}

const verify = (file: string) => run(["systemd-analyze", "verify", "--man=no", file]);

describe("systemd/standby.service", () => {
  it("`systemd-analyze verify` finds nothing to say", async () => {
    const r = await verify(copy());
    expect(r.stderr.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  it("…and the test would see a real unit error (negative control)", async () => {
    for (const [from, to] of [
      ["Type=notify", "Type=notifyy"],
      ["ProtectSystem=strict", "ProtectSytem=strict"],
      ["WatchdogSec=30s", "WatchdogSec=30x"],
      ["ReadOnlyPaths=/etc/standby", "ReadOnlyPaths=etc/standby"],
    ] as const) {
      const r = await verify(copy((t) => t.replace(`\n${from}\n`, `\n${to}\n`)));
      expect(r.stderr, `${from} → ${to}`).toMatch(/\S/);
    }
  });

  it("`systemd-analyze security`: exposure ≤ 5.0, as recorded in systemd/README.md, each remaining one explained", async () => {
    const file = copy();
    const text = await run(["systemd-analyze", "security", "--offline=yes", "--no-pager", file]);
    const score = /Overall exposure level for standby\.service: (\d+\.\d+)/.exec(text.stdout)?.[1];
    expect(score, text.stdout + text.stderr).toBeDefined();
    expect(Number(score)).toBeLessThanOrEqual(5.0);
    expect(README).toContain(`exposure **${score}**`);
    const json = await run(["systemd-analyze", "security", "--offline=yes", "--json=short", file]);
    const items = JSON.parse(json.stdout) as { name: string; exposure: string | null; set: boolean }[];
    const open = items.filter((i) => i.exposure !== null && Number(i.exposure) > 0).map((i) => i.name);
    expect(open.length).toBeGreaterThan(0);
    for (const name of open)
      expect(README, `${name} is not explained in systemd/README.md`).toContain(`\`${name}\``);
  });

  it("is Type=notify with the watchdog, restarts on failure, and comments every directive", () => {
    for (const line of [
      "Type=notify",
      "NotifyAccess=all",
      "WatchdogSec=30s",
      "Restart=on-failure",
      "KillMode=mixed",
      "ExecStart=/usr/bin/standby run --config /etc/standby/standby.yaml",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "StateDirectory=standby",
      "ConfigurationDirectory=standby",
      "RuntimeDirectory=standby",
      "ProtectSystem=strict",
    ])
      expect(UNIT.split("\n")).toContain(line);
    expect(UNIT).not.toMatch(/^MemoryDenyWriteExecute=/m);
    const lines = UNIT.split("\n");
    lines.forEach((line, i) => {
      const key = /^([A-Za-z]+)=/.exec(line)?.[1];
      if (!key) return;
      const before = lines[i - 1] ?? "";
      const uncommented = !before.startsWith("#") && !before.startsWith(`${key}=`) && !before.startsWith("[");
      expect(uncommented ? `line ${i + 1}: ${line}` : "", "a directive without its reason").toBe("");
    });
  });
});

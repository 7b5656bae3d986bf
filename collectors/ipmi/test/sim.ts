/**
 * A real BMC for tests: OpenIPMI's `ipmi_sim` (Debian package openipmi) with two PSUs, PSU redundancy, fans and
 * temperatures (testcases/sim/, from the shared recipe), on free loopback ports, read over lanplus by the real
 * `ipmitool`. Its console changes sensors at runtime (`fail PSU 2`); `stop`/`start` take the BMC away and back.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The compiled harness (dist/collectors/..., which the benchmark imports) reads the same source files.
import { freeTcpPort, freeUdpPort, stopProcess } from "../../../test/peers/common.js";

const FILES = join(import.meta.dirname, "../testcases/sim").replace(/\/dist\/collectors\//, "/collectors/");
export const USER = "admin";
export const PASSWORD = "secret";

/** Why the sim cannot run here, or undefined when it can. */
export function simMissing(): string | undefined {
  for (const [tool, pkg] of [
    ["ipmi_sim", "openipmi"],
    ["ipmitool", "ipmitool"],
  ] as const) {
    const r = spawnSync("sh", ["-c", `command -v ${tool}`]);
    if (r.status !== 0) return `${tool} is not installed (apt-get install ${pkg}; scripts/test-deps.sh)`;
  }
  return undefined;
}

export class IpmiSim {
  readonly dir = mkdtempSync(join(tmpdir(), "sb-ipmisim-"));
  port = 0;
  consolePort = 0;
  private child: ChildProcess | undefined;

  /** The ipmitool argv prefix that reaches this BMC (the password on the command line: tests only). */
  get ipmitoolArgs(): string[] {
    return [
      "-I",
      "lanplus",
      "-H",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      USER,
      "-P",
      PASSWORD,
      "-C",
      "3",
    ];
  }

  /** The ipmi_sim process (undefined before launch() and after it exited). */
  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  async start(): Promise<void> {
    await this.launch();
    await this.ready();
  }

  /** Starts ipmi_sim without waiting for it to answer: ready() waits (many sims can start at once). */
  async launch(): Promise<void> {
    if (this.port === 0) {
      this.port = await freeUdpPort();
      this.consolePort = await freeTcpPort();
      cpSync(FILES, this.dir, { recursive: true });
      const conf = readFileSync(join(FILES, "lan.conf"), "utf8")
        .replace(/addr 127\.0\.0\.1 \d+/, `addr 127.0.0.1 ${this.port}`)
        .replace(/console 127\.0\.0\.1 \d+/, `console 127.0.0.1 ${this.consolePort}`);
      writeFileSync(join(this.dir, "lan.conf"), conf);
      rmSync(join(this.dir, "state"), { recursive: true, force: true });
      mkdirSync(join(this.dir, "state"));
    }
    // SIGPIPE kills ipmi_sim when a console client leaves early: start it with SIGPIPE ignored.
    const cmd = `trap "" PIPE; exec ipmi_sim -c lan.conf -f psusim.emu -s state -n`;
    this.child = spawn("bash", ["-c", cmd], { cwd: this.dir, stdio: "ignore" });
  }

  /** Waits until the BMC answers `mc info`; throws if ipmi_sim exited or did not answer in time. */
  async ready(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) throw new Error("ipmi_sim was not launched");
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const ok = await new Promise<boolean>((resolve) => {
        execFile(
          "ipmitool",
          [...this.ipmitoolArgs, "-N", "1", "-R", "1", "mc", "info"],
          { timeout: 5000 },
          (err) => resolve(!err),
        );
      });
      if (ok) return;
      if (child.exitCode !== null) throw new Error(`ipmi_sim exited (${child.exitCode})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`ipmi_sim did not answer within ${timeoutMs / 1000} s`);
  }

  /** Stops the BMC and waits until it has exited (its port is free again). */
  async stop(): Promise<void> {
    await stopProcess(this.child);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs console commands (`sensor_set_bit 0x20 0 5 1 1 1`); throws on a `**` error line. */
  async console(...commands: string[]): Promise<void> {
    const sock = createConnection({ host: "127.0.0.1", port: this.consolePort });
    let buf = "";
    let wake: (() => void) | undefined;
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      wake?.();
    });
    const prompt = async () => {
      const end = Date.now() + 5000;
      while (!buf.endsWith("> ")) {
        if (Date.now() > end) throw new Error(`ipmi_sim console: no prompt (got ${JSON.stringify(buf)})`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      const out = buf;
      buf = "";
      return out;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      await prompt();
      for (const c of commands) {
        sock.write(`${c}\n`);
        const out = await prompt();
        if (out.includes("**")) throw new Error(`ipmi_sim console: ${c}: ${out.trim()}`);
      }
    } finally {
      sock.end();
      sock.destroy();
    }
  }

  failPsu2(): Promise<void> {
    return this.console("sensor_set_bit 0x20 0 5 1 1 1", "sensor_set_bit_clr_rest 0x20 0 6 1 1");
  }

  restorePsu2(): Promise<void> {
    return this.console("sensor_set_bit 0x20 0 5 1 0 1", "sensor_set_bit_clr_rest 0x20 0 6 0 1");
  }
}

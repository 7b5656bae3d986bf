/**
 * Many simulated SNMP agents for the fleet benchmark: Debian's `snmpsimd` (snmpsim 0.4.5, Python) serving one
 * hand-written `.snmprec` — a switch with a few interfaces, IF-MIB ifTable + ifXTable — on N distinct UDP ports of
 * 127.0.0.1 (`--agent-udpv4-endpoint` repeated, through `--args-from-file`), split over `procs` processes (one
 * Python process serves ~400 GETBULKs a second on this VM). `--v2c-arch` (v1/v2c only, the community names the
 * data file: `public`), `--logging-method=null`, `--max-varbinds=2520` (see below). As root it must drop privileges (`--process-user=nobody`), so its
 * data and cache directories are made world-readable / -writable.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { snmp } from "../src/snmp/session.js";

export const SIM_COMMUNITY = "public";

/** Why snmpsimd cannot run here, or undefined. */
export function snmpsimMissing(): string | undefined {
  if (spawnSync("sh", ["-c", "command -v snmpsimd"]).status !== 0)
    return "snmpsimd is not installed (apt-get install snmpsim)";
  return undefined;
}

/** An IF-MIB walk of a switch with `n` interfaces (1 and 2 named as uplinks), sorted by OID. */
export function ifSnmprec(n: number): string {
  const recs: [number[], number, string][] = [
    [[1, 3, 6, 1, 2, 1, 1, 1, 0], 4, "standby bench simulated switch"],
    [[1, 3, 6, 1, 2, 1, 1, 3, 0], 67, "123456"],
  ];
  for (let i = 1; i <= n; i++) {
    // tag: 2 Integer, 4 OctetString, 65 Counter32, 66 Gauge32, 70 Counter64
    const ifCols: [number, number, string][] = [
      [1, 2, String(i)],
      [2, 4, `GigabitEthernet0/${i}`],
      [3, 2, "6"],
      [5, 66, "1000000000"],
      [7, 2, "1"],
      [8, 2, "1"],
      [10, 65, String(1000 * i)],
      [13, 65, "0"],
      [14, 65, "0"],
      [16, 65, String(2000 * i)],
      [19, 65, "0"],
      [20, 65, "0"],
    ];
    for (const [c, t, v] of ifCols) recs.push([[1, 3, 6, 1, 2, 1, 2, 2, 1, c, i], t, v]);
    const xCols: [number, number, string][] = [
      [1, 4, `Gi0/${i}`],
      [6, 70, String(1e10 * i)],
      [10, 70, String(2e10 * i)],
      [15, 66, "1000"],
      [18, 4, i <= 2 ? `uplink isp-${"ab"[i - 1]}` : ""],
    ];
    for (const [c, t, v] of xCols) recs.push([[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, c, i], t, v]);
  }
  const cmp = (a: number[], b: number[]) => {
    for (let k = 0; k < Math.min(a.length, b.length); k++) if (a[k] !== b[k]) return a[k]! - b[k]!;
    return a.length - b.length;
  };
  recs.sort((a, b) => cmp(a[0], b[0]));
  return recs.map(([o, t, v]) => `${o.join(".")}|${t}|${v}\n`).join("");
}

/** `n` distinct free UDP ports on 127.0.0.1 (all bound at once, then released). */
export async function freeUdpPorts(n: number): Promise<number[]> {
  const socks: Socket[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createSocket("udp4");
      socks.push(s);
      await new Promise<void>((res, rej) => {
        s.once("error", rej);
        s.bind(0, "127.0.0.1", () => res());
      });
    }
    return socks.map((s) => s.address().port);
  } finally {
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** One GET of sysUpTime: true when the agent on `port` answers within `timeoutMs`. */
function answers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = snmp.createSession("127.0.0.1", SIM_COMMUNITY, { port, timeout: timeoutMs, retries: 0 });
    s.on("error", () => {});
    s.get(["1.3.6.1.2.1.1.3.0"], (err) => {
      s.close();
      resolve(!err);
    });
  });
}

export class SnmpSim {
  readonly ports: number[] = [];
  /** its own temp dir: as root, snmpsimd runs as nobody and must be able to reach it */
  private readonly dir = mkdtempSync(join(tmpdir(), "sb-bench-snmpsim-"));
  private readonly children: ChildProcess[] = [];
  private stderr = "";

  constructor(private readonly opts: { agents: number; procs: number; interfaces: number }) {}

  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter(Boolean);
  }

  async start(): Promise<void> {
    const { agents, procs, interfaces } = this.opts;
    const data = join(this.dir, "data");
    const cache = join(this.dir, "cache");
    mkdirSync(data, { recursive: true });
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(data, `${SIM_COMMUNITY}.snmprec`), ifSnmprec(interfaces));
    const root = process.getuid?.() === 0;
    if (root) {
      // snmpsimd drops to nobody: it must read the data and write its index cache
      chmodSync(this.dir, 0o755);
      chmodSync(data, 0o755);
      chmodSync(cache, 0o777);
    }
    this.ports.push(...(await freeUdpPorts(agents)));
    const per = Math.ceil(agents / procs);
    for (let p = 0; p < procs; p++) {
      const mine = this.ports.slice(p * per, (p + 1) * per);
      if (mine.length === 0) break;
      const args = join(this.dir, `args-${p}.txt`);
      writeFileSync(args, mine.map((port) => `--agent-udpv4-endpoint=127.0.0.1:${port}\n`).join(""));
      if (root) chmodSync(args, 0o644);
      this.children.push(
        spawn(
          "snmpsimd",
          [
            "--v2c-arch",
            `--data-dir=${data}`,
            `--cache-dir=${cache}`,
            "--logging-method=null",
            // snmpsim 0.4.5 on Python 3 computes a GETBULK's repetitions as maxVarBinds / columns, a float: when it
            // is not a whole number (64 / 10 = 6.4 with the default) its `while M` loop never ends and the process
            // answers no one again. A multiple of 1..10 (2520) keeps it whole for tables of up to 10 columns.
            "--max-varbinds=2520",
            `--args-from-file=${args}`,
            ...(root ? ["--process-user=nobody", "--process-group=nogroup"] : []),
          ],
          { stdio: ["ignore", "ignore", "pipe"] },
        ),
      );
      this.children.at(-1)!.stderr!.on("data", (x: Buffer) => {
        this.stderr = (this.stderr + x.toString()).slice(-2000);
      });
      // the first one builds the index of the data file; the others find it in the cache
      if (p === 0) await this.ready([mine[0]!]);
    }
    await this.ready(this.children.map((_, p) => this.ports[Math.min(agents, (p + 1) * per) - 1]!));
  }

  private async ready(ports: number[]): Promise<void> {
    const end = Date.now() + 60_000;
    for (const port of ports) {
      while (!(await answers(port, 300))) {
        const dead = this.children.find((c) => c.exitCode !== null);
        if (dead)
          throw new Error(`snmpsimd exited (${dead.exitCode}): ${this.stderr.trim().split("\n").at(-1)}`);
        if (Date.now() > end) throw new Error(`snmpsimd does not answer on 127.0.0.1:${port} after 60 s`);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        const t = setTimeout(() => c.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A real SNMP agent for tests: Debian's snmpd, a private instance on a free loopback port with its own config
 * and persistent dir (never the system service), v2c communities `public` (ro) and `private` (rw), and SNMPv3
 * users `monuser` (SHA + AES) and `monuser256` (SHA-256 + AES), authPriv. IF-MIB's ifTable/ifXTable and
 * CISCO-ENVMON-MIB's supply/fan/temperature tables (and ENTITY-SENSOR-MIB's sensors, `sensors`) come from `snmpd-sim.py` (pass_persist) reading a JSON state
 * file: a test flips an interface or a PSU with `update()`, and SETs of ifAdminStatus are written back.
 * Recipe: shared/recipes/snmpd.md. Needs `snmpd` and `snmp` (snmpget, snmptrap): scripts/test-deps.sh.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const COMMUNITY = "public";
export const RW_COMMUNITY = "private";
export const V3 = { user: "monuser", auth: "authpass123", priv: "privpass123" } as const;
export const V3_SHA256 = { user: "monuser256", auth: "authpass123", priv: "privpass123" } as const;

/** One interface row (IF-MIB): admin/oper 1 up, 2 down, 3 testing, 5 dormant, 6 notPresent, 7 lowerLayerDown. */
export interface SimInterface {
  index: number;
  descr: string;
  name?: string;
  alias?: string;
  speed?: number;
  admin?: number;
  oper?: number;
  in_octets?: number;
  out_octets?: number;
  in_errors?: number;
  out_errors?: number;
  in_discards?: number;
  out_discards?: number;
  /** A SET of ifAdminStatus is answered as done but not applied (a device that ignores it): read back differs. */
  admin_locked?: boolean;
}
/** CISCO-ENVMON-MIB state: 1 normal, 2 warning, 3 critical, 4 shutdown, 5 notPresent, 6 notFunctioning. */
export interface SimEnv {
  index: number;
  descr: string;
  state?: number;
  value?: number;
  threshold?: number;
  source?: number;
}
/**
 * ENTITY-SENSOR-MIB entPhySensorTable row (its entPhysicalIndex): type 3 voltsAC, 4 voltsDC, 5 amperes, 6 watts,
 * 8 celsius, 10 rpm; scale 9 units, 8 milli, 10 kilo; value × 10^scale / 10^precision; status 1 ok,
 * 2 unavailable, 3 nonoperational. `name`/`descr` are its entPhysicalName/entPhysicalDescr.
 */
export interface SimSensor {
  index: number;
  name?: string;
  descr?: string;
  type?: number;
  scale?: number;
  precision?: number;
  value?: number;
  status?: number;
}
export interface SimState {
  if: SimInterface[];
  psu?: SimEnv[];
  fan?: SimEnv[];
  temp?: SimEnv[];
  sensors?: SimSensor[];
}

export const DEFAULT_STATE: SimState = {
  if: [
    {
      index: 1,
      descr: "GigabitEthernet0/1",
      name: "Gi0/1",
      alias: "uplink isp-a",
      speed: 1e9,
      in_octets: 1000,
    },
    {
      index: 2,
      descr: "GigabitEthernet0/2",
      name: "Gi0/2",
      alias: "uplink isp-b",
      speed: 1e9,
      in_octets: 2000,
    },
    { index: 3, descr: "GigabitEthernet0/3", name: "Gi0/3", speed: 1e9, admin: 2, oper: 2 },
  ],
  psu: [
    { index: 1, descr: "Power Supply 1", state: 1, source: 2 },
    { index: 2, descr: "Power Supply 2", state: 1, source: 2 },
  ],
  fan: [{ index: 1, descr: "Fan 1", state: 1 }],
  temp: [{ index: 1, descr: "Inlet", value: 24, threshold: 45, state: 1 }],
};

/** Why snmpd cannot run here, or undefined when it can. */
export function snmpdMissing(): string | undefined {
  for (const [tool, pkg] of [
    ["snmpd", "snmpd"],
    ["snmpget", "snmp"],
    ["snmptrap", "snmp"],
    ["python3", "python3"],
  ] as const) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (apt-get install ${pkg}; scripts/test-deps.sh)`;
  }
  return undefined;
}

export { freeUdpPort } from "./common.js";

import { freeUdpPort, stopProcess } from "./common.js";

export class Snmpd {
  readonly dir = mkdtempSync(join(tmpdir(), "sb-snmpd-"));
  port = 0;
  private child: ChildProcess | undefined;
  private state: SimState = structuredClone(DEFAULT_STATE);

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get stateFile(): string {
    return join(this.dir, "state.json");
  }

  /** Starts snmpd (first time: on a free port, with `state`) and waits until it answers. */
  async start(state?: SimState): Promise<void> {
    if (state) this.state = structuredClone(state);
    if (this.port === 0) {
      this.port = await freeUdpPort();
      mkdirSync(join(this.dir, "persist"), { recursive: true });
      this.writeState();
      // The compiled peer (dist/test/peers/, which the benchmark imports) runs the same source file.
      const sim = join(import.meta.dirname, "snmpd-sim.py").replace(/\/dist\/test\//, "/test/");
      const pass = (oid: string) =>
        `pass_persist -p 1 .${oid} /usr/bin/python3 ${sim} ${this.stateFile} ${oid}`;
      writeFileSync(
        join(this.dir, "snmpd.conf"),
        [
          `[snmp] persistentDir ${join(this.dir, "persist")}`,
          "sysLocation    standby test lab",
          `rocommunity  ${COMMUNITY}  127.0.0.1`,
          `rwcommunity  ${RW_COMMUNITY} 127.0.0.1`,
          "engineID standby-test",
          `createUser ${V3.user}  SHA "${V3.auth}" AES "${V3.priv}"`,
          `rouser     ${V3.user}  authpriv`,
          `createUser ${V3_SHA256.user}  SHA-256 "${V3_SHA256.auth}" AES "${V3_SHA256.priv}"`,
          `rouser     ${V3_SHA256.user}  authpriv`,
          pass("1.3.6.1.2.1.2.2"),
          pass("1.3.6.1.2.1.31.1.1"),
          pass("1.3.6.1.4.1.9.9.13.1"),
          pass("1.3.6.1.2.1.99.1.1"),
          pass("1.3.6.1.2.1.47.1.1.1"),
          "disk /",
          "master no",
          "dontLogTCPWrappersConnects yes",
          "",
        ].join("\n"),
      );
    }
    this.child = spawn(
      "snmpd",
      ["-f", "-Lo", "-C", "-I", "-smux", "-c", join(this.dir, "snmpd.conf"), `udp:${this.address}`],
      {
        stdio: "ignore",
        env: { ...process.env, SNMP_PERSISTENT_DIR: join(this.dir, "persist"), SNMPCONFPATH: this.dir },
      },
    );
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const r = spawnSync(
        "snmpget",
        ["-v2c", "-c", COMMUNITY, "-r0", "-t0.3", this.address, "1.3.6.1.2.1.2.2.1.8.1"],
        { timeout: 3000 },
      );
      if (r.status === 0 && !r.stdout.toString().includes("No Such")) return;
      if (this.child.exitCode !== null) throw new Error(`snmpd exited (${this.child.exitCode})`);
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error("snmpd did not answer within 10 s");
  }

  /** Changes the agent's values: the next request sees them (the file is replaced atomically). */
  update(change: (s: SimState) => void): void {
    this.state = JSON.parse(readFileSync(this.stateFile, "utf8")) as SimState;
    change(this.state);
    this.writeState();
  }

  /** The state as the agent has it now (SETs included). */
  read(): SimState {
    return JSON.parse(readFileSync(this.stateFile, "utf8")) as SimState;
  }

  private writeState(): void {
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.stateFile);
  }

  /** Stops snmpd and waits until it has exited (its port is free again). */
  async stop(): Promise<void> {
    await stopProcess(this.child);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sends a trap with net-snmp's `snmptrap` (v2c): e.g. linkDown `1.3.6.1.6.3.1.1.5.3` for ifIndex 2. */
export function sendTrapV2c(to: string, community: string, trapOid: string, varbinds: string[] = []): void {
  const r = spawnSync("snmptrap", ["-v", "2c", "-c", community, to, "", trapOid, ...varbinds], {
    timeout: 5000,
  });
  if (r.status !== 0) throw new Error(`snmptrap failed: ${r.stderr.toString()}`);
}

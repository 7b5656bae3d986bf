/**
 * A real etcd cluster for tests and benchmarks: three private members of Debian's etcd 3.4 (never the system
 * service), client and peer URLs on free loopback ports, each member with its own data directory under one
 * `sb-etcd-*` temp dir. A member can be paused (SIGSTOP: a hung member), resumed, killed (SIGKILL: a crash) and
 * restarted on the same data directory with the same command line. Not SIGTERM for faults: a raft leader whose
 * peers are gone spends 7 s handing over leadership and keeps its peer port (shared/recipes/etcd.md).
 * Members are spawned with a clean environment (an ETCD_* variable duplicating a flag is fatal), in their own
 * process group, `--logger zap --log-level warn`, and every one is SIGKILLed if the test process exits.
 * Needs `etcd` (Debian `etcd-server`; `etcdctl` from `etcd-client` for the peer's own test): scripts/test-deps.sh.
 * With `netns`, the members run inside that (existing) network namespace on its loopback: `ip netns exec NS etcd`
 * (iproute2 execs in place, so the pid and process group are etcd's own and pause/resume/kill signal etcd), and
 * healthy()/etcdctl() run their probe inside the namespace too (`ip netns exec NS node|etcdctl`): the test process
 * cannot reach the namespace's loopback. Ports are still picked on the host's loopback (any port is free in a
 * fresh namespace). The endpoints are then valid only inside the namespace (test/peers/fleet-net.ts).
 * With `tls`, the members serve clients over https only (`--cert-file --key-file`, and `--client-cert-auth
 * --trusted-ca-file`: a client certificate signed by the test CA is required), with a server certificate for
 * 127.0.0.1 (SAN IP:127.0.0.1) from a test CA made with `openssl` at the first start (EC P-256, valid 1 day;
 * `makeTestPki`); peer traffic stays plain http on loopback. healthy() and etcdctl() then present the CA and the
 * client certificate. `enableAuth()` turns on etcd's password authentication (root and one user with readwrite on
 * a prefix); etcdctl() then runs as root.
 * No vitest here: the benchmarks import it.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupOnTermination, freeTcpPort, killGroup, tailFile } from "./common.js";

export interface EtcdOptions {
  /** How many members (default 3). */
  members?: number;
  /** The parent of the members' data directories. Default: a new `sb-etcd-*` under os.tmpdir(). */
  dir?: string;
  /** Run the members inside this network namespace (it must exist; `ip netns exec`, needs root). */
  netns?: string;
  /**
   * Serve clients over TLS with mutual authentication. The PKI (makeTestPki) is made in `dir` at the first
   * start; default: a new `sb-etcd-tls-*` under os.tmpdir(), removed by destroy().
   */
  tls?: { dir?: string };
}

/** PEM files of a test PKI (makeTestPki): a CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TestPki {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** The server's certificate (CN and SAN IP:127.0.0.1; serverAuth and clientAuth) and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate (CN `clientCn`) signed by the CA, and its key. */
  readonly clientCert: string;
  readonly clientKey: string;
  readonly clientCn: string;
  /** Another CA, of the same subject, that signed nothing here (a client trusting only it must refuse the server). */
  readonly otherCa: string;
}

/** Why the test PKI cannot be made here (no openssl), or undefined when it can. */
export function opensslMissing(): string | undefined {
  if (spawnSync("sh", ["-c", "command -v openssl"]).status !== 0)
    return "openssl is not installed (apt-get install openssl; scripts/test-deps.sh)";
  return undefined;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0)
    throw new Error(`openssl ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr ?? r.error}`);
}

/**
 * A throw-away PKI in `dir` (created if needed) made with openssl: EC P-256 keys (PKCS#8), certificates valid
 * for one day. The server certificate has both serverAuth and clientAuth, as etcd's TLS guide advises: etcd's own
 * gRPC gateway connects to the member presenting it (not needed by these tests, which speak gRPC and GET /health).
 */
export function makeTestPki(dir: string, clientCn = "sb-test-client"): TestPki {
  mkdirSync(dir, { recursive: true });
  const key = (name: string) =>
    openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name]);
  const ca = (name: string) => {
    key(`${name}-key.pem`);
    openssl(dir, [
      ...["req", "-x509", "-new", "-key", `${name}-key.pem`, "-subj", "/CN=standby test CA", "-days", "1"],
      ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      ...["-out", `${name}.pem`],
    ]);
  };
  const leaf = (name: string, cn: string, ext: string) => {
    key(`${name}-key.pem`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ["req", "-new", "-key", `${name}-key.pem`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
    openssl(dir, [
      ...["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem"],
      ...["-set_serial", `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`, "-days", "1"],
      ...["-extfile", `${name}.ext`, "-out", `${name}.pem`],
    ]);
  };
  ca("ca");
  ca("other-ca");
  leaf(
    "server",
    "127.0.0.1",
    "subjectAltName=IP:127.0.0.1\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  leaf("client", clientCn, "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
  return {
    dir,
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server-key.pem"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client-key.pem"),
    clientCn,
    otherCa: join(dir, "other-ca.pem"),
  };
}

/**
 * GET /health in a namespace: prints "true" when the answer is 200 with "health":"true" (argv: port, timeout ms,
 * and with TLS the CA, client certificate and key files: then over https).
 */
const HEALTH_SCRIPT = `const [port, ms] = process.argv.slice(1, 3).map(Number);
const [ca, cert, key] = process.argv.slice(3).map((f) => require("node:fs").readFileSync(f));
const opts = { host: "127.0.0.1", port, path: "/health", agent: false };
const req = (ca ? require("node:https").request({ ...opts, ca, cert, key }, onRes) : require("node:http").request(opts, onRes));
function onRes(res) {
  let b = ""; res.setEncoding("utf8"); res.on("data", (c) => { b += c; });
  res.on("end", () => { process.stdout.write(String(res.statusCode === 200 && /"health":\\s*"true"/.test(b))); process.exit(0); });
}
req.on("error", () => process.exit(1)); setTimeout(() => process.exit(1), ms); req.end();`;

const READY_MS = 10_000;
/** Every live member, killed if the test process ends without stopping them (a crash, a bail-out, SIGTERM). */
const live = new Set<ChildProcess>();
cleanupOnTermination(() => {
  for (const c of live) killGroup(c, "SIGKILL");
});

const exited = (c: ChildProcess | undefined) => !c || c.exitCode !== null || c.signalCode !== null;

/** Why etcd cannot run here, or undefined when it can. */
export function etcdMissing(): string | undefined {
  if (spawnSync("sh", ["-c", "command -v etcd"]).status !== 0)
    return "etcd is not installed (apt-get install etcd-server etcd-client; scripts/test-deps.sh)";
  return undefined;
}

interface Member {
  readonly name: string;
  clientPort: number;
  peerPort: number;
  child: ChildProcess | undefined;
  paused: boolean;
}

export class Etcd {
  private dirPath: string | undefined;
  private readonly members: Member[];
  private readonly token = `standby-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  /** The network namespace the members run in, or undefined (the host's). */
  readonly netns: string | undefined;
  /** With TLS: where the PKI is (made at the first start), and whether destroy() removes it. */
  private readonly tlsOpt: { dir: string | undefined } | undefined;
  private pkiFiles: TestPki | undefined;
  /** After enableAuth(): etcdctl() runs as this user (`--user NAME:PASSWORD`). */
  private admin: string | undefined;

  /** Why etcd cannot run here (no binary), or undefined when it can. */
  static missing(): string | undefined {
    return etcdMissing();
  }

  /** Touches no file and no port: both are chosen at the first start(). */
  constructor(opts: EtcdOptions = {}) {
    this.dirPath = opts.dir;
    this.netns = opts.netns;
    this.tlsOpt = opts.tls ? { dir: opts.tls.dir } : undefined;
    const n = opts.members ?? 3;
    this.members = Array.from({ length: n }, (_, i) => ({
      name: `m${i + 1}`,
      clientPort: 0,
      peerPort: 0,
      child: undefined,
      paused: false,
    }));
  }

  get dir(): string {
    if (this.dirPath === undefined) this.dirPath = mkdtempSync(join(tmpdir(), "sb-etcd-"));
    return this.dirPath;
  }

  get size(): number {
    return this.members.length;
  }

  /** The client URLs, http://127.0.0.1:PORT (https:// with TLS), one per member (valid once started). */
  get endpoints(): string[] {
    const scheme = this.tlsOpt ? "https" : "http";
    return this.members.map((m) => `${scheme}://127.0.0.1:${m.clientPort}`);
  }

  /** With TLS: the test PKI's files (made at the first start, or by this getter). Undefined without TLS. */
  get pki(): TestPki | undefined {
    if (this.tlsOpt === undefined) return undefined;
    if (this.pkiFiles === undefined) {
      const dir = this.tlsOpt.dir ?? mkdtempSync(join(tmpdir(), "sb-etcd-tls-"));
      this.pkiFiles = makeTestPki(dir);
    }
    return this.pkiFiles;
  }

  /** Member i's pid while it runs. */
  pid(i: number): number | undefined {
    const m = this.member(i);
    return exited(m.child) ? undefined : m.child?.pid;
  }

  running(i: number): boolean {
    return !exited(this.member(i).child);
  }

  logFile(i: number): string {
    return join(this.dir, `${this.member(i).name}.log`);
  }

  /** The last `lines` lines of member i's log (every start appended; its last 64 KB read). */
  logTail(i: number, lines = 15): string {
    const file = this.logFile(i);
    return tailFile(file, lines);
  }

  /**
   * Starts every member and waits until each one's /health says true (10 s at most; the error holds the logs'
   * tails). The first start picks free ports (and tries again with others if one was taken meanwhile); later
   * starts reuse them and the data directories.
   */
  async start(): Promise<void> {
    if (this.members.some((m) => !exited(m.child))) throw new Error("etcd: a member is already running");
    const fresh = this.members[0]!.clientPort === 0;
    void this.pki; // with TLS, the certificates first
    for (let attempt = 1; ; attempt++) {
      if (fresh) await this.pickPorts();
      for (let i = 0; i < this.members.length; i++) this.launch(i);
      try {
        await this.waitHealthy(this.members.map((_, i) => i));
        return;
      } catch (e) {
        const taken = this.members.some((_, i) => /address already in use/.test(this.logTail(i, 50)));
        if (!fresh || attempt >= 3 || !taken) throw e;
        await this.stop();
        rmSync(this.dir, { recursive: true, force: true });
        mkdirSync(this.dir, { recursive: true });
      }
    }
  }

  private async pickPorts(): Promise<void> {
    const used = new Set<number>();
    const next = async () => {
      let p: number;
      do p = await freeTcpPort();
      while (used.has(p));
      used.add(p);
      return p;
    };
    for (const m of this.members) {
      m.clientPort = await next();
      m.peerPort = await next();
    }
  }

  /** Spawns member i (no wait). The same command line every time: etcd ignores `--initial-*` once its data dir exists. */
  private launch(i: number): void {
    const m = this.member(i);
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(",");
    const client = this.endpoints[i]!;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    const args = [
      ...["--name", m.name, "--data-dir", join(this.dir, m.name)],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", cluster, "--initial-cluster-state", "new"],
      ...["--initial-cluster-token", this.token, "--logger", "zap", "--log-level", "warn"],
    ];
    const pki = this.pki;
    if (pki !== undefined)
      args.push(
        ...["--cert-file", pki.serverCert, "--key-file", pki.serverKey],
        ...["--client-cert-auth", "--trusted-ca-file", pki.ca],
      );
    mkdirSync(this.dir, { recursive: true });
    const log = openSync(this.logFile(i), "a");
    let child: ChildProcess;
    try {
      const [file, argv] = this.inNetns("etcd", args);
      child = spawn(file, argv, {
        stdio: ["ignore", log, log],
        detached: true, // its own process group: a terminal's ^C does not reach it, killGroup() does
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: this.dir },
      });
    } finally {
      closeSync(log);
    }
    m.child = child;
    m.paused = false;
    live.add(child);
    child.once("exit", () => live.delete(child));
    child.once("error", () => live.delete(child));
  }

  /** Waits until each listed member's /health is true (10 s budget for all). */
  private async waitHealthy(which: number[]): Promise<void> {
    const t0 = Date.now();
    const pending = new Set(which);
    while (pending.size > 0) {
      for (const i of [...pending]) {
        const c = this.member(i).child;
        if (exited(c))
          throw new Error(
            `etcd member ${this.member(i).name} exited (${c?.exitCode ?? c?.signalCode}) before it was healthy; log:\n${this.logTail(i)}`,
          );
        if (await this.healthy(i, 300)) pending.delete(i);
      }
      if (pending.size === 0) return;
      if (Date.now() - t0 > READY_MS) {
        const tails = [...pending].map((i) => `--- ${this.member(i).name}:\n${this.logTail(i)}`).join("\n");
        throw new Error(`etcd: members not healthy within ${READY_MS} ms; logs:\n${tails}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whether member i answers GET /health with "health":"true" within `timeoutMs` (it blocks without a leader). */
  healthy(i: number, timeoutMs = 500): Promise<boolean> {
    const port = this.member(i).clientPort;
    if (this.netns !== undefined) return this.healthyInNetns(port, timeoutMs);
    const pki = this.pki;
    const opts = { host: "127.0.0.1", port, path: "/health", agent: false as const };
    return new Promise((resolve) => {
      const onResponse = (res: IncomingMessage) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body));
        });
        res.on("error", () => resolve(false));
      };
      const req =
        pki === undefined
          ? request(opts, onResponse)
          : httpsRequest(
              {
                ...opts,
                ca: readFileSync(pki.ca),
                cert: readFileSync(pki.clientCert),
                key: readFileSync(pki.clientKey),
              },
              onResponse,
            );
      const timer = setTimeout(() => {
        req.destroy();
        resolve(false);
      }, timeoutMs);
      req.on("error", () => {
        clearTimeout(timer);
        resolve(false);
      });
      req.end();
    });
  }

  /** healthy() inside the namespace: a short node process there (its start-up, ~50 ms, adds to the bound). */
  private healthyInNetns(port: number, timeoutMs: number): Promise<boolean> {
    const [file, argv] = this.inNetns(process.execPath, [
      "-e",
      HEALTH_SCRIPT,
      String(port),
      String(timeoutMs),
      ...(this.pki ? [this.pki.ca, this.pki.clientCert, this.pki.clientKey] : []),
    ]);
    return new Promise((resolve) => {
      execFile(
        file,
        argv,
        { encoding: "utf8", timeout: timeoutMs + 2000, killSignal: "SIGKILL" },
        (err, stdout) => resolve(!err && stdout.trim() === "true"),
      );
    });
  }

  /** `file args` as they are run: prefixed with `ip netns exec NS` when the members live in a namespace. */
  private inNetns(file: string, args: string[]): [string, string[]] {
    return this.netns === undefined ? [file, args] : ["ip", ["netns", "exec", this.netns, file, ...args]];
  }

  /** SIGSTOP member i: its ports still accept connections, nothing is answered until resume(i). */
  pause(i: number): void {
    const m = this.runningMember(i, "pause");
    killGroup(m.child!, "SIGSTOP");
    m.paused = true;
  }

  /** SIGCONT after pause(i). */
  resume(i: number): void {
    const m = this.runningMember(i, "resume");
    killGroup(m.child!, "SIGCONT");
    m.paused = false;
  }

  /** SIGKILL member i (a crash) and waits until it has exited, so its ports are free again. */
  async kill(i: number): Promise<void> {
    const m = this.member(i);
    const c = m.child;
    if (exited(c)) return;
    const gone = new Promise((r) => c!.once("exit", r));
    killGroup(c!, "SIGKILL");
    await gone;
    m.paused = false;
  }

  /**
   * Starts member i again on its data directory with the same command line (killing it first if it runs), and
   * waits until it answers /health true — which needs a quorum: with `wait: false` it only spawns.
   */
  async restart(i: number, opts: { wait?: boolean } = {}): Promise<void> {
    await this.kill(i);
    this.launch(i);
    if (opts.wait !== false) await this.waitHealthy([i]);
  }

  /** Kills every member (SIGKILL: etcd's data survives a crash) and waits until they have exited. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
  }

  /** stop() and removes the data directories (also a directory given to the constructor) and a PKI it made. */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.dirPath !== undefined) rmSync(this.dirPath, { recursive: true, force: true });
    if (this.pkiFiles !== undefined && this.tlsOpt?.dir === undefined)
      rmSync(this.pkiFiles.dir, { recursive: true, force: true });
  }

  /**
   * Runs etcdctl (v3) against the cluster with a timeout; returns its exit status and output. For the peer's own
   * test and for debugging: the code under test speaks gRPC through etcd3. With TLS it presents the test CA and
   * client certificate; after enableAuth() it runs as root (unless `args` has a `--user` of its own).
   */
  etcdctl(args: string[], timeoutMs = 5000): { status: number | null; stdout: string; stderr: string } {
    const pki = this.pki;
    const [file, argv] = this.inNetns("etcdctl", [
      `--endpoints=${this.endpoints.join(",")}`,
      `--command-timeout=${Math.max(1, Math.floor(timeoutMs / 1000))}s`,
      ...(pki ? [`--cacert=${pki.ca}`, `--cert=${pki.clientCert}`, `--key=${pki.clientKey}`] : []),
      ...(this.admin !== undefined && !args.some((a) => a.startsWith("--user"))
        ? [`--user=${this.admin}`]
        : []),
      ...args,
    ]);
    const r = spawnSync(file, argv, {
      encoding: "utf8",
      timeout: timeoutMs + 2000,
      env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ETCDCTL_API: "3" },
    });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /**
   * Turns on etcd's authentication (`etcdctl auth enable`): user `root` (role root) with `rootPassword`, and `user`
   * with `password` and a role `<user>-rw` that may read and write keys under `prefix` (`prefix` itself and every
   * key below it: `--prefix` on `prefix`, which must end with / to exclude `/sb-tlsx` for `/sb-tls/`). From then on
   * etcdctl() runs as root. Throws with etcdctl's stderr when a step fails.
   */
  enableAuth(opts: { user: string; password: string; prefix: string; rootPassword?: string }): void {
    const root = opts.rootPassword ?? `root-${Math.random().toString(36).slice(2, 10)}`;
    const role = `${opts.user}-rw`;
    const steps = [
      ["user", "add", `root:${root}`],
      ["role", "add", "root"],
      ["user", "grant-role", "root", "root"],
      ["user", "add", `${opts.user}:${opts.password}`],
      ["role", "add", role],
      ["role", "grant-permission", role, "readwrite", opts.prefix, "--prefix=true"],
      ["user", "grant-role", opts.user, role],
      ["auth", "enable"],
    ];
    for (const step of steps) {
      const r = this.etcdctl(step);
      if (r.status !== 0)
        throw new Error(`etcdctl ${step.join(" ")} failed (${r.status}): ${r.stderr.trim()}`);
    }
    this.admin = `root:${root}`;
  }

  /**
   * Which member is raft leader, by `etcdctl endpoint status` (undefined when none answers or none leads). Killing
   * the other two leaves a leader that acknowledges lease keepalives until it steps down (~1 s): the hard case.
   */
  raftLeader(): number | undefined {
    const r = this.etcdctl(["endpoint", "status", "-w", "json"], 2000);
    try {
      const rows = JSON.parse(r.stdout) as {
        Endpoint: string;
        Status: { header: { member_id: unknown }; leader: unknown };
      }[];
      const row = rows.find((x) => String(x.Status.leader) === String(x.Status.header.member_id));
      const i = row
        ? this.endpoints.findIndex((e) => e.endsWith(row.Endpoint.replace(/^https?:\/\//, "")))
        : -1;
      return i < 0 ? undefined : i;
    } catch {
      return undefined;
    }
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (m === undefined) throw new Error(`etcd: no member ${i} (0..${this.members.length - 1})`);
    return m;
  }

  private runningMember(i: number, what: string): Member {
    const m = this.member(i);
    if (exited(m.child)) throw new Error(`etcd member ${m.name} is not running: nothing to ${what}`);
    return m;
  }
}

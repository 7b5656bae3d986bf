/**
 * A real InfluxDB for tests and benchmarks: Debian's influxd 1.x, a private instance with its own config and data
 * directory (never the system service), HTTP on a free loopback port, the RPC port on another. It can be paused
 * (SIGSTOP: a server that accepts connections and answers nothing), stopped and restarted on the same port with
 * the same data, and queried or written over plain HTTP with a timeout on every request.
 * Recipe: shared/recipes/influxd.md. Needs `influxd` (Debian `influxdb`): scripts/test-deps.sh.
 * No vitest here: the benchmarks import it.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeTcpPort, stopProcess, tailFile } from "./common.js";

/** One statement's result, as influxd's `/query` answers it (JSON). */
export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
export interface InfluxStatementResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
  messages?: { level: string; text: string }[];
}

export interface InfluxdOptions {
  /** The data directory (created if missing). Default: a new `sb-influxd-*` under os.tmpdir(). */
  dir?: string;
}

export interface RequestOptions {
  /** The whole request (connect, send, answer): default 5000 ms. */
  timeoutMs?: number;
}

/** The answer of one HTTP request to influxd. */
interface Answer {
  status: number;
  body: string;
}

const READY_MS = 20_000;
/** Every live instance, killed if the test process exits without stopping them (a crash, a bail-out). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** Why influxd cannot run here, or undefined when it can. */
export function influxdMissing(): string | undefined {
  if (spawnSync("sh", ["-c", "command -v influxd"]).status !== 0)
    return "influxd is not installed (apt-get install influxdb; scripts/test-deps.sh)";
  return undefined;
}

export class Influxd {
  private dirPath: string | undefined;
  /** The HTTP API's port: chosen at the first start, kept by restart(). */
  port = 0;
  /** The RPC (backup/restore) port, which influxd binds whatever the config says: kept off the default 8088. */
  rpcPort = 0;
  private child: ChildProcess | undefined;
  private paused = false;

  /** Why influxd cannot run here (no binary), or undefined when it can. */
  static missing(): string | undefined {
    return influxdMissing();
  }

  /** Touches no file: the directory is made at the first start() (or the first read of `dir`). */
  constructor(opts: InfluxdOptions = {}) {
    this.dirPath = opts.dir;
  }

  /** The data directory (config, log, meta, data, wal). */
  get dir(): string {
    if (this.dirPath === undefined) this.dirPath = mkdtempSync(join(tmpdir(), "sb-influxd-"));
    return this.dirPath;
  }

  /** http://127.0.0.1:PORT (valid once started). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** influxd's pid while it runs. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get logFile(): string {
    return join(this.dir, "influxd.log");
  }

  /** The last `lines` lines of influxd's log (stdout and stderr, every start appended; its last 64 KB read). */
  logTail(lines = 20): string {
    return tailFile(this.logFile, lines);
  }

  /**
   * Starts influxd and waits until GET /ping answers 204 (20 s at most; the error holds the log's tail). The
   * first start picks free ports (and tries other ones if influxd finds them taken after all); later starts reuse
   * them.
   */
  async start(): Promise<void> {
    if (this.running) throw new Error(`influxd is already running (pid ${this.child?.pid})`);
    const fresh = this.port === 0;
    for (let attempt = 1; ; attempt++) {
      if (fresh) {
        this.port = await freeTcpPort();
        do this.rpcPort = await freeTcpPort();
        while (this.rpcPort === this.port);
      }
      try {
        await this.launch();
        return;
      } catch (e) {
        // freeTcpPort() releases the port before influxd binds it: another process may have taken it meanwhile.
        if (!fresh || attempt >= 3 || !/address already in use/.test(this.logTail(50))) throw e;
      }
    }
  }

  private async launch(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const conf = join(this.dir, "influxdb.conf");
    writeFileSync(conf, this.config());
    const log = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn("influxd", ["run", "-config", conf, "-pidfile", join(this.dir, "influxd.pid")], {
        stdio: ["ignore", log, log],
        env: { ...process.env, INFLUXDB_CONFIG_PATH: conf },
      });
    } finally {
      closeSync(log);
    }
    this.child = child;
    this.paused = false;
    live.add(child);
    child.once("exit", () => live.delete(child));
    let spawnError: Error | undefined;
    child.once("error", (e) => {
      spawnError = e;
      live.delete(child);
    });

    const t0 = Date.now();
    while (Date.now() - t0 < READY_MS) {
      if (spawnError) throw new Error(`influxd could not be started: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `influxd exited (${child.exitCode ?? child.signalCode}) before it answered on ${this.url}; log:\n${this.logTail()}`,
        );
      try {
        if ((await this.http("GET", "/ping", undefined, { timeoutMs: 1000 })).status === 204) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stopProcess(child);
    throw new Error(
      `influxd did not answer GET /ping on ${this.url} within ${READY_MS} ms; log:\n${this.logTail()}`,
    );
  }

  /** The private config (shared/recipes/influxd.md): loopback only, no reporting, no _internal store. */
  private config(): string {
    const d = (sub: string) => JSON.stringify(join(this.dir, sub));
    return [
      "reporting-enabled = false",
      `bind-address = "127.0.0.1:${this.rpcPort}"`,
      "[meta]",
      `  dir = ${d("meta")}`,
      "[data]",
      `  dir = ${d("data")}`,
      `  wal-dir = ${d("wal")}`,
      '  index-version = "inmem"',
      "  query-log-enabled = false",
      "[monitor]",
      "  store-enabled = false",
      "[http]",
      "  enabled = true",
      `  bind-address = "127.0.0.1:${this.port}"`,
      "  auth-enabled = false",
      "  suppress-write-log = true",
      "  unix-socket-enabled = false",
      "[ifql]",
      "  enabled = false",
      "[logging]",
      "  suppress-logo = true",
      "",
    ].join("\n");
  }

  /** SIGSTOP: the port still accepts connections (the kernel does), but nothing is answered until resume(). */
  pause(): void {
    if (!this.running) throw new Error("influxd is not running: nothing to pause");
    this.child!.kill("SIGSTOP");
    this.paused = true;
  }

  /** SIGCONT after pause(). */
  resume(): void {
    if (!this.running) throw new Error("influxd is not running: nothing to resume");
    this.child!.kill("SIGCONT");
    this.paused = false;
  }

  /** SIGTERM (SIGKILL 5 s later) and waits until it has exited; the data directory stays. */
  async stop(): Promise<void> {
    if (this.running && this.paused) this.resume(); // a stopped process cannot handle SIGTERM
    await stopProcess(this.child);
  }

  /** stop() and start() again: the same port, the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** stop() and removes the data directory (also one given to the constructor). */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.dirPath !== undefined) rmSync(this.dirPath, { recursive: true, force: true });
  }

  /**
   * Runs InfluxQL (GET /query for SELECT and SHOW, POST otherwise, as influxd wants) and returns each statement's
   * result. Throws on an HTTP error, a parse error or any statement's error, naming the query.
   */
  async query(q: string, db?: string, opts: RequestOptions = {}): Promise<InfluxStatementResult[]> {
    const params = new URLSearchParams({ q, epoch: "ms" });
    if (db !== undefined) params.set("db", db);
    const read = /^\s*(select|show)\b/i.test(q) && !/\binto\b/i.test(q);
    const a = read
      ? await this.http("GET", `/query?${params}`, undefined, opts)
      : await this.http("POST", "/query", params.toString(), opts, "application/x-www-form-urlencoded");
    let body: { results?: InfluxStatementResult[]; error?: string };
    try {
      body = JSON.parse(a.body) as typeof body;
    } catch {
      throw new Error(`influxd answered ${a.status} with no JSON to ${q}: ${a.body.slice(0, 300)}`);
    }
    if (a.status !== 200 || body.error !== undefined)
      throw new Error(`influxd answered ${a.status} to ${q}: ${body.error ?? a.body.slice(0, 300)}`);
    const results = body.results ?? [];
    const failed = results.find((r) => r.error !== undefined);
    if (failed) throw new Error(`influxd: statement ${failed.statement_id} of ${q}: ${failed.error}`);
    return results;
  }

  /** POST /write of line protocol; throws unless influxd answers 204 (with its answer). */
  async write(db: string, lineProtocol: string, precision = "ns", opts: RequestOptions = {}): Promise<void> {
    const params = new URLSearchParams({ db, precision });
    const a = await this.http("POST", `/write?${params}`, lineProtocol, opts, "text/plain; charset=utf-8");
    if (a.status !== 204) throw new Error(`influxd refused a write to ${db}: ${a.status} ${a.body.trim()}`);
  }

  /** CREATE DATABASE (a no-op when it exists). */
  async createDatabase(db: string, opts: RequestOptions = {}): Promise<void> {
    await this.query(`CREATE DATABASE "${db.replace(/["\\]/g, "\\$&")}"`, undefined, opts);
  }

  /** One HTTP request on a fresh connection, bounded by `timeoutMs` as a whole. */
  private http(
    method: string,
    path: string,
    body: string | undefined,
    opts: RequestOptions,
    contentType?: string,
  ): Promise<Answer> {
    const ms = opts.timeoutMs ?? 5000;
    if (this.port === 0) return Promise.reject(new Error("influxd was never started (no port yet)"));
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (e: Error | undefined, a?: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve(a!);
      };
      const headers: Record<string, string | number> = {};
      if (body !== undefined) {
        headers["content-type"] = contentType ?? "text/plain";
        headers["content-length"] = Buffer.byteLength(body);
      }
      const req = request(
        { host: "127.0.0.1", port: this.port, method, path, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", (e) => finish(e));
        },
      );
      const timer = setTimeout(() => {
        finish(new Error(`influxd: ${method} ${path.split("?")[0]} timed out after ${ms} ms`));
        req.destroy();
      }, ms);
      req.on("error", (e) => finish(e));
      req.end(body);
    });
  }
}

/**
 * Running ipmitool against one BMC: the argv (never a shell; the password only in the child's environment, as
 * `IPMI_PASSWORD` with `-E`, so `ps` never shows it), a time budget with a process-group kill, at most one
 * ipmitool per BMC at any time, and the SDR cache (`sdr dump` once, then `-S FILE`: a poll is one call).
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeFailure, type SpawnResult, spawnWithTimeout } from "../../src/actions/spawn.js";
import { resolveSecret } from "../../src/config/secrets.js";
import { formatDuration } from "../../src/util/duration.js";
import { processAlive } from "../../src/util/kill.js";
import { bmcLabel, type IpmiCollectorSpec } from "./config.js";

/** How long an SDR cache is used before it is read again from the BMC (a firmware update may change it). */
export const SDR_CACHE_TTL_MS = 3_600_000;
/** The most of ipmitool's output a poll keeps (a large server's `sdr elist` is ~20 KB). */
const STDOUT_LIMIT = 4 << 20;

/** Per BMC: the ipmitool that runs for it now, or one that was killed but would not exit (abandoned). */
const busy = new Map<string, { readonly pid?: number; readonly since: number; readonly what: string }>();

export interface IpmiRun {
  readonly ok: boolean;
  readonly stdout: string;
  /** Why it failed, in one line (never the password). */
  readonly error?: string;
  readonly durationMs: number;
}

/** One BMC's ipmitool: argv, environment, cache and exclusivity. */
export class Ipmitool {
  readonly bmc: string;
  private cacheDir: string | undefined;
  private cacheFile: string | undefined;
  private cachedAt = Number.NEGATIVE_INFINITY;
  private cacheBroken = false;
  /** The last poll was answered: only then is the SDR cache read (a dead BMC costs one call a poll, not two). */
  private answered = false;

  constructor(
    private readonly spec: IpmiCollectorSpec,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bmc = bmcLabel(spec);
  }

  /** The key under which runs for this BMC exclude each other (two blocks may poll the same BMC). */
  private get key(): string {
    return this.spec.target ? `${this.bmc}` : `local:${this.spec.ipmitool}`;
  }

  /** The argv before the command: interface, host, user, `-E`, cipher suite, privilege. */
  baseArgs(): string[] {
    const t = this.spec.target;
    if (!t) return [this.spec.ipmitool];
    const args = [this.spec.ipmitool, "-I", t.interface, "-H", t.host];
    if (t.port !== undefined) args.push("-p", String(t.port));
    args.push("-U", t.user, "-E");
    if (t.cipher_suite !== undefined && t.interface === "lanplus") args.push("-C", String(t.cipher_suite));
    if (t.privilege) args.push("-L", t.privilege.toUpperCase());
    // ipmitool's own retries (the default: 4 retries of 2 s and more) end well after our budget: one retry of
    // a second lets a dead BMC say so itself ("Unable to establish IPMI v2 / RMCP+ session") in about 2 s.
    args.push("-N", "1", "-R", "1");
    return args;
  }

  private what(command: string): string {
    return `${this.spec.ipmitool} ${command}`;
  }

  /** Forget the SDR cache: it is read again before the next poll (after an outage, or when a poll failed). */
  invalidateCache(): void {
    this.cachedAt = Number.NEGATIVE_INFINITY;
  }

  /** Reads the sensors once (`sdr elist`), within `budgetMs`, refreshing the SDR cache first when due. */
  async poll(budgetMs: number, signal: AbortSignal): Promise<IpmiRun> {
    const started = this.now();
    const held = busy.get(this.key);
    if (held) {
      if (held.pid === undefined || processAlive(held.pid)) {
        const pid = held.pid !== undefined ? ` (pid ${held.pid})` : "";
        const ago = formatDuration(Math.max(0, Math.round(this.now() - held.since)));
        return {
          ok: false,
          stdout: "",
          error: `the previous ipmitool for this BMC${pid} is still running after ${ago}: not starting another`,
          durationMs: 0,
        };
      }
      busy.delete(this.key);
    }
    const mark = { since: started, what: "poll" };
    busy.set(this.key, mark);
    let keep: { pid?: number } | undefined;
    try {
      let env: NodeJS.ProcessEnv = process.env;
      if (this.spec.target) {
        try {
          env = { ...process.env, IPMI_PASSWORD: await resolveSecret(this.spec.target.password) };
        } catch (err) {
          return { ok: false, stdout: "", error: (err as Error).message, durationMs: 0 };
        }
      }
      const deadline = started + budgetMs;
      let dumpFailed = false;
      const due = this.now() - this.cachedAt >= SDR_CACHE_TTL_MS;
      if (this.spec.sdr_cache && !this.cacheBroken && this.answered && due) {
        const r = await this.dump(env, deadline - this.now(), signal);
        if (r.abandoned) keep = { ...(r.pid !== undefined ? { pid: r.pid } : {}) };
        // Not started, killed, or cancelled: the poll would fare no better. An exit status (a BMC without the
        // command, say) is not fatal: poll without the cache.
        if (r.exitCode === undefined) {
          this.answered = false;
          return fail(r, budgetMs, this.what("sdr dump"));
        }
        dumpFailed = r.exitCode !== 0;
      }
      if (signal.aborted)
        return { ok: false, stdout: "", error: "cancelled", durationMs: this.now() - started };
      const argv = [...this.baseArgs()];
      if (this.cacheFile && this.cachedAt > Number.NEGATIVE_INFINITY) argv.push("-S", this.cacheFile);
      argv.push("sdr", "elist");
      const left = Math.max(1, deadline - this.now());
      const r = await spawnWithTimeout(argv, { timeout: left, signal, env, captureStdout: STDOUT_LIMIT });
      if (r.abandoned) keep = { ...(r.pid !== undefined ? { pid: r.pid } : {}) };
      const stdout = r.stdout ?? "";
      const failure = describeFailure(r, left);
      if (failure && !(r.exitCode !== undefined && !r.timedOut && !r.aborted && /\|/.test(stdout))) {
        // A cached poll that fails may be reading with a stale cache: read the records again next time.
        this.invalidateCache();
        this.answered = false;
        return fail(r, left, this.what("sdr elist"));
      }
      this.answered = true;
      // The BMC answers but cannot dump its records: poll without a cache from now on.
      if (dumpFailed) this.cacheBroken = true;
      return {
        ok: true,
        stdout,
        ...(failure ? { error: `${this.what("sdr elist")}: ${failure}` } : {}),
        durationMs: r.durationMs,
      };
    } finally {
      // An ipmitool that would not die keeps the BMC taken until it is gone: no pile-up behind a hung one.
      if (keep) busy.set(this.key, { ...keep, since: started, what: "poll" });
      else if (busy.get(this.key) === mark) busy.delete(this.key);
    }
  }

  /** `sdr dump FILE`: the BMC's sensor records, for `-S`. A dump that fails is not fatal: poll without it. */
  private async dump(env: NodeJS.ProcessEnv, budgetMs: number, signal: AbortSignal): Promise<SpawnResult> {
    this.cacheDir ??= await mkdtemp(join(tmpdir(), "standby-ipmi-"));
    const file = join(this.cacheDir, "sdr.cache");
    await rm(file, { force: true });
    const r = await spawnWithTimeout([...this.baseArgs(), "sdr", "dump", file], {
      timeout: Math.max(1, budgetMs),
      signal,
      env,
    });
    const size = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    if (r.exitCode === 0 && size > 0) {
      this.cacheFile = file;
      this.cachedAt = this.now();
    } else {
      this.cacheFile = undefined;
      this.cachedAt = Number.NEGATIVE_INFINITY;
      // A tool that exits 0 and writes no file (a script standing in for ipmitool) never will: stop asking.
      if (r.exitCode === 0) this.cacheBroken = true;
    }
    return r;
  }

  async close(): Promise<void> {
    if (this.cacheDir) await rm(this.cacheDir, { recursive: true, force: true }).catch(() => undefined);
    this.cacheDir = undefined;
    this.cacheFile = undefined;
  }
}

function fail(r: SpawnResult, budgetMs: number, what: string): IpmiRun {
  // e.g. "ipmitool sdr elist: exit 1: Error: Unable to establish IPMI v2 / RMCP+ session"
  return {
    ok: false,
    stdout: r.stdout ?? "",
    error: `${what}: ${describeFailure(r, budgetMs) ?? "failed"}`,
    durationMs: r.durationMs,
  };
}

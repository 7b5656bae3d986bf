/**
 * What every action runner shares: the context of the switch it takes part in, the result it returns, and the
 * helpers that turn a command's outcome into that result. The runners themselves are one file per action kind in
 * `kinds/`; `run.ts` is their registry.
 */
import { performance } from "node:perf_hooks";
import type { Secret } from "../config/secret.js";
import { describeSecret } from "../config/secrets.js";
import { describeFailure, roundMs, type SpawnResult } from "./spawn.js";

/** What a runner knows about the switch it takes part in, and how to run. */
export interface ActionContext {
  readonly group: string;
  /** The member being left; absent when there was none (start-up). */
  readonly from?: string;
  /** The member being activated. */
  readonly to: string;
  readonly reason: string;
  /** A shared group's switch: the leader's fencing token (`STANDBY_FENCE`, `X-Standby-Fence`, `fence` in the body). */
  readonly fence?: string;
  /** Run nothing; return what would run. */
  readonly dryRun: boolean;
  /** Aborting kills a running command (as a timeout does) and cancels a request. */
  readonly signal?: AbortSignal;
  /** Reads `{env}` / `{file}` secrets (http headers). Without it, a secret header makes the action fail. */
  readonly resolveSecret?: (s: Secret) => Promise<string>;
  /**
   * Run `route`, `address` and `exec` commands inside this network namespace (`ip netns exec NS ...`). The
   * daemon normally runs inside the right namespace and leaves it unset; tests set it.
   */
  readonly netns?: string;
  /** Where sysfs is mounted, for `bond` (default `/sys`; tests point it at a fake tree). */
  readonly sysRoot?: string;
}

export interface ActionResult {
  readonly ok: boolean;
  /** The action's kind: route, address, exec, http, bond, snmp_set. */
  readonly kind: string;
  /** The command run (or that would run), for command-based actions. */
  readonly argv?: string[];
  readonly exitCode?: number;
  /** HTTP status, for http. */
  readonly status?: number;
  /** stdout and stderr (or the HTTP status and body), truncated to about 4 KiB. */
  readonly output: string;
  readonly durationMs: number;
  /** What failed and why, in one line: `ip: exit 2: Nexthop has invalid gateway (...)`. */
  readonly error?: string;
  readonly dryRun?: true;
  /**
   * The command did not exit even after SIGKILL (uninterruptible sleep) and was given up on, or the action did
   * not finish by its deadline (timeout + kill grace): the result is a failure and `pid` names what was left.
   */
  readonly abandoned?: true;
  /** The pid of an abandoned command. */
  readonly pid?: number;
}

/** Extra inputs notify hooks give exec and http runners. */
export interface RunExtras {
  /** exec: written to stdin. */
  readonly stdin?: string;
  /** exec: more environment (after STANDBY_*, before the spec's env). */
  readonly env?: Readonly<Record<string, string>>;
  /** http: the body when the spec has none (default: {group, from, to, reason}). */
  readonly body?: string;
}

export function elapsedSince(started: number): number {
  return roundMs(performance.now() - started);
}

export function dry(kind: string, argv: string[] | undefined, output: string): ActionResult {
  return { ok: true, kind, ...(argv ? { argv } : {}), output, durationMs: 0, dryRun: true };
}

/** A failure that ran nothing. */
export function refuse(kind: string, error: string, ctx: ActionContext, argv?: string[]): ActionResult {
  return {
    ok: false,
    kind,
    ...(argv ? { argv } : {}),
    output: "",
    durationMs: 0,
    error,
    ...(ctx.dryRun ? { dryRun: true as const } : {}),
  };
}

/** The ActionResult of one command; `name` prefixes the error (`ip`, `exec: /usr/bin/x`). */
export function fromSpawn(
  kind: string,
  name: string,
  r: SpawnResult,
  timeout: number,
  detail: (d: string) => string = (d) => d,
): ActionResult {
  const failure = describeFailure(r, timeout);
  return {
    ok: failure === undefined,
    kind,
    argv: [...r.argv],
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    output: r.output,
    durationMs: r.durationMs,
    ...(failure !== undefined ? { error: `${name}: ${detail(failure)}` } : {}),
    ...(r.abandoned ? { abandoned: true as const, ...(r.pid !== undefined ? { pid: r.pid } : {}) } : {}),
  };
}

/** `ip netns exec` could not run the command inside the namespace: say so as if it had been run directly. */
export function netnsExecFailure(r: SpawnResult, netns: string | undefined): string | undefined {
  if (!netns || r.exitCode === 0 || r.exitCode === undefined) return undefined;
  const m = /exec of "[^"]*" failed: (.+)$/m.exec(r.output);
  if (!m) return undefined;
  const why = m[1]!.trim();
  if (/No such file or directory/i.test(why)) return "no such file";
  if (/Permission denied/i.test(why)) return "permission denied";
  return why;
}

/** Makes ip's messages readable and adds what to check. */
export function ipDetail(spec: { via?: string; dev?: string }) {
  return (d: string): string => {
    let out = d.replace(/^(exit \d+: )Error: /, "$1");
    if (/Nexthop has invalid gateway|Network is unreachable/i.test(out) && spec.via !== undefined) {
      out += ` (is ${spec.via} on the subnet of a local interface that is up?)`;
    } else if (/Operation not permitted/i.test(out)) {
      out += " (needs root or CAP_NET_ADMIN)";
    } else if (d === "no such file") {
      out = "not found (install iproute2)";
    }
    return out;
  };
}

export function signalOf(ctx: ActionContext): { signal?: AbortSignal } {
  return ctx.signal ? { signal: ctx.signal } : {};
}

/** Replaces every secret value in `text` by `***` (values shorter than 4 characters are left: too common). */
export function redactor(secretValues: readonly string[]): (text: string) => string {
  const values = secretValues.filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => values.reduce((acc, v) => acc.split(v).join("***"), text);
}

/**
 * Resolves the secret values of a map (exec env, http headers). Returns the plain map and the secret values, or
 * an error that names the key and the secret's source, never a value.
 */
export async function resolveAll(
  map: Readonly<Record<string, string | Secret>>,
  ctx: ActionContext,
  what: string,
): Promise<{ values: Record<string, string>; secrets: string[] } | { error: string }> {
  const values: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    if (typeof v === "string") {
      values[k] = v;
      continue;
    }
    if (!ctx.resolveSecret) {
      return { error: `${what} ${k} is a secret (${describeSecret(v)}) and no secret resolver was given` };
    }
    try {
      const value = await ctx.resolveSecret(v);
      values[k] = value;
      secrets.push(value);
    } catch (err) {
      return {
        error: `${what} ${k}: cannot read secret (${describeSecret(v)}): ${(err as Error)?.message ?? err}`,
      };
    }
  }
  return { values, secrets };
}

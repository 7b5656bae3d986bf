/**
 * Action runners: what a group does when a member becomes active (or stops being active).
 *
 * `runAction` runs one action and returns an ActionResult; it never throws and never runs a shell unless the
 * action says `shell: true`. Every external command and request has the action's `timeout`. `runActions` runs a
 * list in order and stops at the first failure.
 *
 * Network namespaces: the daemon normally runs inside the namespace whose routes it manages (started with
 * `ip netns exec NS standby run`, or simply in the host's namespace) and leaves `ActionContext.netns` unset.
 * Setting it prefixes `route`, `address` and `exec` commands with `ip netns exec NS` (tests use this); `http`
 * and `bond` are not affected.
 */
import { constants } from "node:fs";
import { access, readFile, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Secret } from "../config/secret.js";
import { describeSecret } from "../config/secrets.js";
import {
  type AddressSpec,
  type ArpingFlavour,
  addressArgv,
  arpingArgv,
  arpingFlavour,
  type BondSpec,
  bondPath,
  defaultHttpBody,
  type ExecSpec,
  execArgv,
  execEnv,
  formatArgv,
  type HttpSpec,
  inNetns,
  isInterfaceName,
  type RouteSpec,
  routeArgv,
  type SnmpSetSpec,
  stripPrefix,
} from "./argv.js";
import { httpRequest, redactUrl } from "./http.js";
import {
  ABANDON_GRACE_MS,
  describeFailure,
  formatDuration,
  KILL_GRACE_MS,
  roundMs,
  type SpawnResult,
  spawnWithTimeout,
  truncateOutput,
} from "./spawn.js";
import type { ActionKind, ActionSpec } from "./types.js";

/** What a runner knows about the switch it takes part in, and how to run. */
export interface ActionContext {
  readonly group: string;
  /** The member being left; absent when there was none (start-up). */
  readonly from?: string;
  /** The member being activated. */
  readonly to: string;
  readonly reason: string;
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
  /** The action's kind: route, address, exec, http, snmp_set, bond. */
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

/** The kind of an action: its single key. */
export function actionKind(action: ActionSpec): ActionKind {
  return Object.keys(action)[0] as ActionKind;
}

/** One line for logs and events: `route default via 10.0.0.1`, `exec /usr/local/bin/page`. */
export function describeAction(action: ActionSpec): string {
  if ("route" in action) {
    const r = action.route;
    return [
      "route",
      r.to,
      ...(r.via !== undefined ? ["via", r.via] : []),
      ...(r.dev !== undefined ? ["dev", r.dev] : []),
      ...(r.table !== undefined ? ["table", String(r.table)] : []),
      ...(r.metric !== undefined ? ["metric", String(r.metric)] : []),
    ].join(" ");
  }
  if ("address" in action) {
    const a = action.address;
    return `address ${a.address} dev ${a.dev} ${a.state}`;
  }
  if ("exec" in action) return `exec ${formatArgv(execArgv(action.exec))}`;
  if ("http" in action) return `http ${action.http.method} ${redactUrl(action.http.url)}`;
  if ("snmp_set" in action) {
    const s = action.snmp_set;
    return `snmp_set ${String(s.target.host ?? "?")} ${s.oid} ${s.type} ${s.value}`;
  }
  return `bond ${action.bond.dev} active_slave ${action.bond.active_slave}`;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function elapsedSince(started: number): number {
  return roundMs(performance.now() - started);
}

function dry(kind: string, argv: string[] | undefined, output: string): ActionResult {
  return { ok: true, kind, ...(argv ? { argv } : {}), output, durationMs: 0, dryRun: true };
}

/** A failure that ran nothing. */
function refuse(kind: string, error: string, ctx: ActionContext, argv?: string[]): ActionResult {
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
function fromSpawn(
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
function netnsExecFailure(r: SpawnResult, netns: string | undefined): string | undefined {
  if (!netns || r.exitCode === 0 || r.exitCode === undefined) return undefined;
  const m = /exec of "[^"]*" failed: (.+)$/m.exec(r.output);
  if (!m) return undefined;
  const why = m[1]!.trim();
  if (/No such file or directory/i.test(why)) return "no such file";
  if (/Permission denied/i.test(why)) return "permission denied";
  return why;
}

/** Makes ip's messages readable and adds what to check. */
function ipDetail(spec: { via?: string; dev?: string }) {
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

/** The full path of a program found on PATH, or undefined. */
export async function findExecutable(
  name: string,
  path = process.env.PATH ?? "",
): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

let arpingProbe: Promise<ArpingFlavour | undefined> | undefined;

/** Which arping is installed, if any (looked up once per process). */
export function detectArping(): Promise<ArpingFlavour | undefined> {
  arpingProbe ??= (async () => {
    if (!(await findExecutable("arping"))) return undefined;
    const r = await spawnWithTimeout(["arping", "--help"], { timeout: 1000 });
    if (r.spawnError) return undefined;
    return arpingFlavour(r.output);
  })();
  return arpingProbe;
}

// ---------------------------------------------------------------------------------------------------------
// Runners

async function runRoute(spec: RouteSpec, ctx: ActionContext): Promise<ActionResult> {
  const argv = inNetns(routeArgv(spec), ctx.netns);
  if (ctx.dryRun) return dry("route", argv, `would run: ${formatArgv(argv)}`);
  const r = await spawnWithTimeout(argv, { timeout: spec.timeout, group: false, ...signalOf(ctx) });
  return fromSpawn("route", "ip", r, spec.timeout, ipDetail(spec));
}

/** The address action: `ip addr replace|del`, then a gratuitous ARP for a present IPv4 address. */
async function runAddress(spec: AddressSpec, ctx: ActionContext): Promise<ActionResult> {
  const argv = inNetns(addressArgv(spec), ctx.netns);
  const announce = spec.state === "present" && arpingArgv(spec, "iputils") !== undefined;
  if (ctx.dryRun) {
    return dry(
      "address",
      argv,
      `would run: ${formatArgv(argv)}${announce ? `\nthen announce ${stripPrefix(spec.address)} on ${spec.dev} with a gratuitous ARP (arping)` : ""}`,
    );
  }
  const started = performance.now();
  const r = await spawnWithTimeout(argv, { timeout: spec.timeout, group: false, ...signalOf(ctx) });
  const base = fromSpawn("address", "ip", r, spec.timeout, ipDetail({}));
  if (!base.ok) {
    if (
      spec.state === "absent" &&
      r.exitCode !== undefined &&
      /Address not found|Cannot assign requested address/i.test(r.output)
    ) {
      const { error: _ignored, ...rest } = base;
      return {
        ...rest,
        ok: true,
        output: `${r.output.trimEnd()}\n(${spec.address} was already absent from ${spec.dev})`,
      };
    }
    const nf = netnsExecFailure(r, ctx.netns);
    return nf ? { ...base, error: `ip: ${ipDetail({})(nf)}` } : base;
  }
  if (!announce) return base;

  const lines = [r.output.trimEnd()].filter((l) => l);
  const flavour = await detectArping();
  const arp = flavour ? arpingArgv(spec, flavour) : undefined;
  const remaining = spec.timeout - (performance.now() - started);
  if (!arp) {
    lines.push(
      "arping is not installed: no gratuitous ARP sent (neighbours learn the address on their next ARP)",
    );
  } else if (remaining < 50) {
    lines.push("no time left for the gratuitous ARP (the action's timeout is spent)");
  } else {
    const argvA = inNetns(arp, ctx.netns);
    const a = await spawnWithTimeout(argvA, {
      timeout: Math.min(remaining, 2000),
      group: false,
      ...signalOf(ctx),
    });
    const sent =
      a.exitCode === 0 ||
      /\b[1-9]\d* packets transmitted/.test(a.output) ||
      /\bSent [1-9]\d* probe/.test(a.output);
    lines.push(`$ ${formatArgv(argvA)}`, a.output.trimEnd());
    lines.push(
      sent && !a.timedOut
        ? `gratuitous ARP sent for ${stripPrefix(spec.address)} on ${spec.dev}`
        : `gratuitous ARP failed (the address is in place): arping: ${describeFailure(a, Math.min(remaining, 2000)) ?? "nothing sent"}`,
    );
  }
  return {
    ...base,
    output: truncateOutput(lines.filter((l) => l).join("\n")),
    durationMs: elapsedSince(started),
  };
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

/** Replaces every secret value in `text` by `***` (values shorter than 4 characters are left: too common). */
function redactor(secretValues: readonly string[]): (text: string) => string {
  const values = secretValues.filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => values.reduce((acc, v) => acc.split(v).join("***"), text);
}

/**
 * Resolves the secret values of a map (exec env, http headers). Returns the plain map and the secret values, or
 * an error that names the key and the secret's source, never a value.
 */
async function resolveAll(
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

async function runExec(spec: ExecSpec, ctx: ActionContext, extras: RunExtras = {}): Promise<ActionResult> {
  const argv = inNetns(execArgv(spec), ctx.netns);
  if (ctx.dryRun) return dry("exec", argv, `would run: ${formatArgv(argv)}`);
  const name = `exec: ${spec.shell ? "sh -c" : (spec.argv[0] ?? "")}`;
  const started = performance.now();
  const specEnv = await resolveAll(spec.env, ctx, "env");
  if ("error" in specEnv) {
    return { ...refuse("exec", `${name}: ${specEnv.error}`, ctx, argv), durationMs: elapsedSince(started) };
  }
  const env = execEnv(ctx, { ...extras.env, ...specEnv.values });
  const remaining = Math.max(1, spec.timeout - (performance.now() - started));
  const r = await spawnWithTimeout(argv, {
    timeout: remaining,
    env,
    ...signalOf(ctx),
    ...(extras.stdin !== undefined ? { stdin: extras.stdin } : {}),
  });
  const res = fromSpawn("exec", name, r, spec.timeout);
  const nf = res.ok ? undefined : netnsExecFailure(r, ctx.netns);
  const out = nf ? { ...res, error: `${name}: ${nf}` } : res;
  if (specEnv.secrets.length === 0) return out;
  // The command may print what it was given: a secret never leaves in a result (events, logs, status).
  const redact = redactor(specEnv.secrets);
  return {
    ...out,
    ...(out.argv ? { argv: out.argv.map(redact) } : {}),
    output: redact(out.output),
    ...(out.error !== undefined ? { error: redact(out.error) } : {}),
  };
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  const n = name.toLowerCase();
  return Object.keys(headers).some((h) => h.toLowerCase() === n);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The http action. The body is the spec's `body`, or the JSON `{group, from, to, reason}`; a JSON body gets
 * `content-type: application/json` unless a header says otherwise. A status outside 2xx is a failure;
 * redirects are not followed. Secret header values never appear in output or errors.
 */
async function runHttp(spec: HttpSpec, ctx: ActionContext, extras: RunExtras = {}): Promise<ActionResult> {
  const method = spec.method.toUpperCase();
  const url = redactUrl(spec.url);
  const prefix = `http: ${method} ${url}`;
  const body = spec.body ?? extras.body ?? defaultHttpBody(ctx);
  const withBody = method !== "GET" && method !== "HEAD";

  const plain: Record<string, string> = {};
  const secretNames: string[] = [];
  for (const [k, v] of Object.entries(spec.headers)) {
    if (typeof v === "string") plain[k] = v;
    else secretNames.push(k);
  }
  if (
    withBody &&
    !hasHeader(plain, "content-type") &&
    !secretNames.some((h) => h.toLowerCase() === "content-type")
  ) {
    if (isJson(body)) plain["content-type"] = "application/json";
  }

  if (ctx.dryRun) {
    const lines = [`would send: ${method} ${url}`];
    for (const [k, v] of Object.entries(plain)) lines.push(`${k}: ${v}`);
    for (const k of secretNames) lines.push(`${k}: <secret>`);
    if (withBody) lines.push("", body);
    return dry("http", undefined, truncateOutput(lines.join("\n")));
  }

  const started = performance.now();
  const headers = { ...plain };
  const secretValues: string[] = [];
  for (const k of secretNames) {
    const s = spec.headers[k] as Secret;
    if (!ctx.resolveSecret) {
      return refuse(
        "http",
        `${prefix}: header ${k} is a secret (${describeSecret(s)}) and no secret resolver was given`,
        ctx,
      );
    }
    try {
      const v = await ctx.resolveSecret(s);
      headers[k] = v;
      if (v.length >= 4) secretValues.push(v);
    } catch (err) {
      return {
        ...refuse(
          "http",
          `${prefix}: header ${k}: cannot read secret (${describeSecret(s)}): ${(err as Error).message ?? err}`,
          ctx,
        ),
        durationMs: elapsedSince(started),
      };
    }
  }
  const remaining = Math.max(1, spec.timeout - (performance.now() - started));
  const o = await httpRequest({
    url: spec.url,
    method,
    headers,
    ...(withBody ? { body } : {}),
    timeout: remaining,
    ...signalOf(ctx),
  });
  const redact = (t: string) => secretValues.reduce((acc, v) => acc.split(v).join("***"), t);
  const error =
    o.error === undefined
      ? undefined
      : redact(o.error.startsWith("timed out") ? `timed out after ${formatDuration(spec.timeout)}` : o.error);
  return {
    ok: o.ok,
    kind: "http",
    ...(o.status !== undefined ? { status: o.status } : {}),
    output: redact(o.output),
    durationMs: elapsedSince(started),
    ...(error !== undefined ? { error: `${prefix}: ${error}` } : {}),
  };
}

/** Writes `active_slave` through sysfs and reads it back. */
async function runBond(spec: BondSpec, ctx: ActionContext): Promise<ActionResult> {
  if (!isInterfaceName(spec.dev)) {
    return refuse("bond", `bond: ${JSON.stringify(spec.dev)} is not an interface name`, ctx);
  }
  if (!isInterfaceName(spec.active_slave)) {
    return refuse("bond", `bond: ${JSON.stringify(spec.active_slave)} is not an interface name`, ctx);
  }
  const path = bondPath(spec.dev, ctx.sysRoot);
  if (ctx.dryRun) return dry("bond", undefined, `would write ${spec.active_slave} to ${path}`);
  const started = performance.now();
  const fail = (error: string, output = ""): ActionResult => ({
    ok: false,
    kind: "bond",
    output,
    durationMs: elapsedSince(started),
    error: `bond: ${error}`,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(1, spec.timeout));
  });
  try {
    const io = (async () => {
      await writeFile(path, spec.active_slave);
      return (await readFile(path, "utf8")).trim();
    })();
    io.catch(() => {}); // a late failure after the timeout must not be unhandled
    const now = await Promise.race([io, timeout]);
    if (now === "timeout") return fail(`${path}: timed out after ${formatDuration(spec.timeout)}`);
    const output = `active_slave: ${now}`;
    if (now !== spec.active_slave)
      return fail(`wrote ${spec.active_slave} to ${path} but it reads ${now || "(empty)"}`, output);
    return { ok: true, kind: "bond", output, durationMs: elapsedSince(started) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === "ENOENT"
        ? `no such file (is ${spec.dev} a bonding interface?)`
        : e.code === "EINVAL"
          ? `invalid argument (is ${spec.active_slave} an enslaved, up interface of ${spec.dev}, in mode active-backup?)`
          : e.code === "EACCES" || e.code === "EPERM"
            ? "permission denied (needs root)"
            : (e.message ?? String(err));
    return fail(`${path}: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

function runSnmpSet(_spec: SnmpSetSpec, ctx: ActionContext): Promise<ActionResult> {
  return Promise.resolve(
    refuse("snmp_set", "snmp_set is not supported yet (arrives with the SNMP collector)", ctx),
  );
}

function signalOf(ctx: ActionContext): { signal?: AbortSignal } {
  return ctx.signal ? { signal: ctx.signal } : {};
}

/** The spec inside an action of kind K: SpecOf<"route"> is the `{to, via, ...}` map. */
export type SpecOf<K extends ActionKind> =
  Extract<ActionSpec, Record<K, unknown>> extends Record<K, infer S> ? S : never;

type Runner<K extends ActionKind> = (
  spec: SpecOf<K>,
  ctx: ActionContext,
  extras?: RunExtras,
) => Promise<ActionResult>;

const RUNNERS: { readonly [K in ActionKind]: Runner<K> } = {
  route: runRoute,
  address: runAddress,
  exec: runExec,
  http: runHttp,
  snmp_set: runSnmpSet,
  bond: runBond,
};

/** Runs one action. Never throws: every failure is a result with `ok: false` and an `error`. */
export async function runAction(action: ActionSpec, ctx: ActionContext): Promise<ActionResult> {
  return runWith(action, ctx);
}

/** runAction with the notify extras (stdin, env, default body). */
export async function runWith(
  action: ActionSpec,
  ctx: ActionContext,
  extras?: RunExtras,
): Promise<ActionResult> {
  const kind = actionKind(action);
  const runner = RUNNERS[kind] as Runner<ActionKind> | undefined;
  if (!runner) return refuse(String(kind), `unknown action kind ${JSON.stringify(kind)}`, ctx);
  if (ctx.signal?.aborted && !ctx.dryRun) return refuse(kind, `${kind}: cancelled before it started`, ctx);
  const spec = (action as Record<string, unknown>)[kind] as Parameters<Runner<ActionKind>>[0];
  const run = (async () => {
    try {
      return await runner(spec, ctx, extras);
    } catch (err) {
      return refuse(kind, `${kind}: internal error: ${(err as Error)?.message ?? String(err)}`, ctx);
    }
  })();
  if (ctx.dryRun) return run;
  // The runners end by themselves (a command that never exits is abandoned by spawnWithTimeout, a request is
  // aborted); this deadline is the guarantee for whatever they wait on that they cannot cancel (a secret file on a
  // hung mount, a DNS lookup, a sysfs write): the group's queue always moves on.
  const timeout = (spec as { timeout?: number }).timeout ?? 5000;
  const limit = timeout + KILL_GRACE_MS + ABANDON_GRACE_MS + DEADLINE_SLACK_MS;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ActionResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ...refuse(
            kind,
            `${kind}: did not finish within ${formatDuration(limit)} (timeout ${formatDuration(timeout)} + kill grace): abandoned`,
            ctx,
          ),
          durationMs: elapsedSince(started),
          abandoned: true,
        }),
      limit,
    );
    timer.unref();
  });
  try {
    return await Promise.race([run, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** After timeout + kill grace + abandon grace, how much longer runWith waits for a runner before giving up on it. */
const DEADLINE_SLACK_MS = 250;

/** Runs the actions in order and stops at the first failure; returns the results of those that ran. */
export async function runActions(list: readonly ActionSpec[], ctx: ActionContext): Promise<ActionResult[]> {
  const results: ActionResult[] = [];
  for (const action of list) {
    const r = await runAction(action, ctx);
    results.push(r);
    if (!r.ok) break;
  }
  return results;
}

/**
 * Action runners: what a group does when a member becomes active (or stops being active). One file per action
 * kind in `kinds/` (its runner and its one-line description), and this registry.
 *
 * `runAction` runs one action and returns an ActionResult; it never throws and never runs a shell unless the
 * action says `shell: true`. Every external command and request has the action's `timeout`, and every action
 * ends by timeout + kill grace whatever it waits on. `runActions` runs a list in order and stops at the first
 * failure.
 *
 * Network namespaces: the daemon normally runs inside the namespace whose routes it manages (started with
 * `ip netns exec NS standby run`, or simply in the host's namespace) and leaves `ActionContext.netns` unset.
 * Setting it prefixes `route`, `address` and `exec` commands with `ip netns exec NS` (tests use this); `http`,
 * `bond` and `snmp_set` are not affected.
 */
import { performance } from "node:perf_hooks";
import * as address from "./kinds/address.js";
import * as bond from "./kinds/bond.js";
import * as exec from "./kinds/exec.js";
import * as http from "./kinds/http.js";
import * as route from "./kinds/route.js";
import * as snmp_set from "./kinds/snmp_set.js";
import { type ActionContext, type ActionResult, elapsedSince, type RunExtras, refuse } from "./result.js";
import { ABANDON_GRACE_MS, formatDuration, KILL_GRACE_MS } from "./spawn.js";
import type { ActionKind, ActionSpec } from "./types.js";

export { detectArping, findExecutable } from "./kinds/address.js";
export type { ActionContext, ActionResult, RunExtras } from "./result.js";

/** The spec inside an action of kind K: SpecOf<"route"> is the `{to, via, ...}` map. */
export type SpecOf<K extends ActionKind> =
  Extract<ActionSpec, Record<K, unknown>> extends Record<K, infer S> ? S : never;

type Runner<K extends ActionKind> = (
  spec: SpecOf<K>,
  ctx: ActionContext,
  extras?: RunExtras,
) => Promise<ActionResult>;

/** The registry: one line per action kind. */
const KINDS: { readonly [K in ActionKind]: { run: Runner<K>; describe: (spec: SpecOf<K>) => string } } = {
  route,
  address,
  exec,
  http,
  bond,
  snmp_set,
};

/** The kind of an action: its single key. */
export function actionKind(action: ActionSpec): ActionKind {
  return Object.keys(action)[0] as ActionKind;
}

/** One line for logs and events: `route default via 10.0.0.1`, `exec /usr/local/bin/page`. */
export function describeAction(action: ActionSpec): string {
  const kind = actionKind(action);
  const def = KINDS[kind] as { describe: (spec: unknown) => string };
  return def.describe((action as Record<string, unknown>)[kind]);
}

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
  const runner = KINDS[kind]?.run as Runner<ActionKind> | undefined;
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

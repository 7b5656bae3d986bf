/** The exec action: a program with argv (a shell only with `shell: true`), STANDBY_* env and secret env values. */
import { performance } from "node:perf_hooks";
import { type ExecSpec, execArgv, execEnv, formatArgv, inNetns } from "../argv.js";
import {
  type ActionContext,
  type ActionResult,
  dry,
  elapsedSince,
  fromSpawn,
  netnsExecFailure,
  type RunExtras,
  redactor,
  refuse,
  resolveAll,
  signalOf,
} from "../result.js";
import { spawnWithTimeout } from "../spawn.js";

export const kind = "exec";

export async function run(spec: ExecSpec, ctx: ActionContext, extras: RunExtras = {}): Promise<ActionResult> {
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

export function describe(spec: ExecSpec): string {
  return `exec ${formatArgv(execArgv(spec))}`;
}

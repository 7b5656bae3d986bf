/** The bond action: writes `active_slave` through sysfs and reads it back. */
import { readFile, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { type BondSpec, bondPath, isInterfaceName } from "../argv.js";
import { type ActionContext, type ActionResult, dry, elapsedSince, refuse } from "../result.js";
import { formatDuration } from "../spawn.js";

export const kind = "bond";

/** Writes `active_slave` through sysfs and reads it back. */
export async function run(spec: BondSpec, ctx: ActionContext): Promise<ActionResult> {
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

export function describe(spec: BondSpec): string {
  return `bond ${spec.dev} active_slave ${spec.active_slave}`;
}

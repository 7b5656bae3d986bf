/** The route action: `ip route replace` (IPv4 or IPv6), with readable errors. */
import { formatArgv, inNetns, type RouteSpec, routeArgv } from "../argv.js";
import { type ActionContext, type ActionResult, dry, fromSpawn, ipDetail, signalOf } from "../result.js";
import { spawnWithTimeout } from "../spawn.js";

export const kind = "route";

export async function run(spec: RouteSpec, ctx: ActionContext): Promise<ActionResult> {
  const argv = inNetns(routeArgv(spec), ctx.netns);
  if (ctx.dryRun) return dry("route", argv, `would run: ${formatArgv(argv)}`);
  const r = await spawnWithTimeout(argv, { timeout: spec.timeout, group: false, ...signalOf(ctx) });
  return fromSpawn("route", "ip", r, spec.timeout, ipDetail(spec));
}

/** One line for logs and events: `route default via 10.0.0.1 table 100 metric 10`. */
export function describe(r: RouteSpec): string {
  return [
    "route",
    r.to,
    ...(r.via !== undefined ? ["via", r.via] : []),
    ...(r.dev !== undefined ? ["dev", r.dev] : []),
    ...(r.table !== undefined ? ["table", String(r.table)] : []),
    ...(r.metric !== undefined ? ["metric", String(r.metric)] : []),
  ].join(" ");
}

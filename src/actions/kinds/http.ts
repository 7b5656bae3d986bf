/** The http action: a request (webhook) with the switch as its default JSON body; secret headers never shown. */
import { performance } from "node:perf_hooks";
import type { Secret } from "../../config/secret.js";
import { describeSecret } from "../../config/secrets.js";
import { defaultHttpBody, type HttpSpec } from "../argv.js";
import { httpRequest, redactUrl } from "../http.js";
import {
  type ActionContext,
  type ActionResult,
  dry,
  elapsedSince,
  type RunExtras,
  refuse,
  signalOf,
} from "../result.js";
import { formatDuration, truncateOutput } from "../spawn.js";

export const kind = "http";

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
export async function run(spec: HttpSpec, ctx: ActionContext, extras: RunExtras = {}): Promise<ActionResult> {
  const method = spec.method.toUpperCase();
  const url = redactUrl(spec.url);
  const prefix = `http: ${method} ${url}`;
  const body = spec.body ?? extras.body ?? defaultHttpBody(ctx);
  const withBody = method !== "GET" && method !== "HEAD";

  const plain: Record<string, string> = {};
  if (ctx.fence !== undefined) plain["X-Standby-Fence"] = ctx.fence;
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

export function describe(spec: HttpSpec): string {
  return `http ${spec.method} ${redactUrl(spec.url)}`;
}

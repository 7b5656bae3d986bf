/**
 * Notify hooks (`notify:` in standby.yaml): tell people and other systems about an event.
 *
 * - `http` hooks send the event as JSON (the spec's `body`, when given, is sent instead), with the spec's
 *   method (default POST) and headers.
 * - `exec` hooks get the event JSON (one line) on stdin and the environment `STANDBY_EVENT` (the event's
 *   kind), `STANDBY_GROUP`, `STANDBY_FROM`, `STANDBY_TO`, `STANDBY_REASON` (empty when the event has no such
 *   field), then the spec's `env`.
 *
 * All hooks run at the same time, each with its own timeout; one failing or hanging hook never holds up the
 * others. `notify` never throws and returns one result per hook, in the order of the hooks.
 */

import type { NotifySpec } from "../config/schema.js";
import type { Secret } from "../config/secret.js";
import type { StandbyEvent } from "../groups/events.js";
import { type ActionContext, type ActionResult, runWith } from "./run.js";

export interface NotifyOptions {
  /** Run nothing; return what would run. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  /** Reads `{env}` / `{file}` secrets in http headers. */
  readonly resolveSecret?: (s: Secret) => Promise<string>;
  /** Run exec hooks inside this network namespace (tests); see ActionContext.netns. */
  readonly netns?: string;
}

/** The context a hook runs in, from the event. */
export function notifyContext(event: StandbyEvent, opts: NotifyOptions = {}): ActionContext {
  return {
    group: ("group" in event ? event.group : undefined) ?? "",
    ...("from" in event && event.from !== undefined ? { from: event.from } : {}),
    to: ("to" in event ? event.to : "member" in event ? event.member : undefined) ?? "",
    ...("fence" in event && event.fence !== undefined ? { fence: event.fence } : {}),
    reason: event.reason,
    dryRun: opts.dryRun ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.resolveSecret ? { resolveSecret: opts.resolveSecret } : {}),
    ...(opts.netns ? { netns: opts.netns } : {}),
  };
}

/** Runs every hook for the event; never throws. */
export async function notify(
  hooks: readonly NotifySpec[],
  event: StandbyEvent,
  opts: NotifyOptions = {},
): Promise<ActionResult[]> {
  const ctx = notifyContext(event, opts);
  const json = JSON.stringify(event);
  return Promise.all(
    hooks.map((hook) =>
      "http" in hook
        ? runWith({ http: hook.http }, ctx, { body: json })
        : runWith({ exec: hook.exec }, ctx, { stdin: `${json}\n`, env: { STANDBY_EVENT: event.kind } }),
    ),
  );
}

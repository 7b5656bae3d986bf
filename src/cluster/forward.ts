/**
 * Operator commands for a shared group given to an instance that does not lead it (fleet mode, docs/fleet.md
 * "Operator commands"): forwarded to the leader through etcd. The follower puts the request under its own lease
 * (`<prefix>/groups/<g>/commands/<id>`: gone if it dies); the leader sees it in its next read of the fleet, takes
 * it (deletes it in a fenced transaction that also requires it to exist), runs it as its own operator command and
 * puts the answer (`.../results/<id>`, under the leader's lease); the follower reads the answer, deletes it and
 * returns it. A request not taken when the time is up is withdrawn (deleted if it exists): exactly one of take and
 * withdraw succeeds, so a request runs once or never, never late.
 */
import { randomUUID } from "node:crypto";
import type { Command } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import type { Fleet } from "./fleet.js";

/** A forwarded command as stored: times in wall ms (the two hosts' monotonic clocks differ). */
export interface ForwardedCommand {
  readonly id: string;
  /** The instance that forwarded it. */
  readonly from: string;
  readonly command: Command;
  readonly by?: "socket" | "token";
  readonly who?: string;
  readonly reason?: string;
}

export interface ForwardedResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly events: readonly StandbyEvent[];
  /** The leader that ran it. */
  readonly leader: string;
}

const commandKey = (f: Fleet, group: string, id: string) => `${f.prefix}/groups/${group}/commands/${id}`;
const resultKey = (f: Fleet, group: string, id: string) => `${f.prefix}/groups/${group}/results/${id}`;

/** A new request's id: this instance's name and a random part. */
export function requestId(f: Fleet): string {
  return `${f.name}-${randomUUID().slice(0, 8)}`;
}

/** Forwards `req` to the leader of `group` and waits for its answer (at most `timeoutMs`). Never throws. */
export async function forwardCommand(
  f: Fleet,
  group: string,
  req: ForwardedCommand,
  timeoutMs: number,
): Promise<ForwardedResult | { ok: false; error: string }> {
  const lease = f.lease.id;
  if (lease === undefined || !f.lease.held())
    return {
      ok: false,
      error: `cannot forward to the leader of "${group}": this instance holds no etcd lease`,
    };
  const key = commandKey(f, group, req.id);
  const answer = resultKey(f, group, req.id);
  const deadline = Date.now() + timeoutMs;
  try {
    await f.client.put(key).value(JSON.stringify(req)).lease(lease).exec();
    for (;;) {
      const json = await f.client.get(answer).string();
      if (json !== null) {
        await f.client
          .delete()
          .key(answer)
          .exec()
          .catch(() => {});
        return parseResult(json) ?? { ok: false, error: "the leader's answer is malformed" };
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Withdrawn unless the leader took it meanwhile (then its answer may still come: say so).
    const withdrawn = await f.client.if(key, "Create", ">", 0).then(f.client.delete().key(key)).commit();
    const leader = f.leader(group) ?? "none";
    return {
      ok: false,
      error: withdrawn.succeeded
        ? `the leader of "${group}" (${leader}) did not take the command within ${timeoutMs} ms: withdrawn, not applied`
        : `the leader of "${group}" (${leader}) took the command but its answer did not arrive within ${timeoutMs} ms: see its events`,
    };
  } catch (e) {
    await f.client
      .delete()
      .key(key)
      .exec()
      .catch(() => {});
    return { ok: false, error: `cannot forward to the leader of "${group}": etcd: ${(e as Error).message}` };
  }
}

/**
 * The leader takes a request: deletes it, only while `fence` leads and the request is still there — exactly one
 * of this and the follower's withdrawal succeeds, so a request runs once or not at all.
 */
export async function takeCommand(f: Fleet, group: string, fence: string, id: string): Promise<boolean> {
  const key = commandKey(f, group, id);
  const r = await f.client
    .if(`${f.prefix}/groups/${group}/leader/${f.name}`, "Create", "==", fence)
    .and(key, "Create", ">", 0)
    .then(f.client.delete().key(key))
    .commit();
  return r.succeeded;
}

/** The leader's answer to a request it took, under its lease, only while `fence` leads. */
export async function answerCommand(
  f: Fleet,
  group: string,
  fence: string,
  id: string,
  result: ForwardedResult,
): Promise<boolean> {
  const lease = f.lease.id;
  if (lease === undefined) return false;
  return f.fencedOps(group, fence, [
    f.client
      .put(resultKey(f, group, id))
      .value(JSON.stringify(result))
      .lease(lease),
  ]);
}

/** A request as stored, or undefined when it is not one. */
export function parseRequest(json: string): ForwardedCommand | undefined {
  try {
    const v = JSON.parse(json) as Partial<ForwardedCommand>;
    if (typeof v?.id !== "string" || typeof v.from !== "string") return undefined;
    if (typeof v.command !== "object" || v.command === null || typeof v.command.command !== "string")
      return undefined;
    return v as ForwardedCommand;
  } catch {
    return undefined;
  }
}

function parseResult(json: string): ForwardedResult | undefined {
  try {
    const v = JSON.parse(json) as Partial<ForwardedResult>;
    if (typeof v?.ok !== "boolean" || !Array.isArray(v.events)) return undefined;
    return v as ForwardedResult;
  } catch {
    return undefined;
  }
}

/**
 * Operator commands for shared groups across the fleet (src/cluster/forward.ts): a follower forwards the command to
 * the group's leader and returns its answer; the leader runs the commands forwarded to it, each once, one at a time,
 * as its own operator commands (their events say `via <follower>`), and answers under its token.
 */
import type { Fleet } from "../cluster/fleet.js";
import { answerCommand, forwardCommand, parseRequest, requestId, takeCommand } from "../cluster/forward.js";
import type { Command } from "../groups/controller.js";
import type { StandbyEvent } from "../groups/events.js";
import { fromWall, toWall } from "../util/clock.js";
import type { FleetHost } from "./fleet-types.js";

/** How long a follower waits for the leader's answer to a forwarded command (the API's request timeout is 10 s). */
const FORWARD_TIMEOUT_MS = 5000;

export class CommandRelay {
  /** Forwarded commands seen (by group and id), and the chain that runs them one at a time. */
  private readonly served = new Map<string, Set<string>>();
  private commands: Promise<void> = Promise.resolve();

  constructor(
    private readonly h: Pick<FleetHost, "clock" | "log" | "runCommand">,
    private readonly fleet: Fleet,
    /** The token under which this instance leads the group now (undefined: it does not). */
    private readonly fenceOf: (group: string) => string | undefined,
  ) {}

  /**
   * An operator command for a shared group this instance does not lead: forwarded to the leader through etcd
   * (src/cluster/forward.ts), its answer returned. A time (`until`) travels as wall time.
   */
  async forward(
    group: string,
    cmd: Command,
    caller: { by?: "socket" | "token"; who: string; reason?: string } | undefined,
  ): Promise<{ ok: boolean; error?: string; events: readonly StandbyEvent[] }> {
    const command =
      "until" in cmd && cmd.until !== undefined ? { ...cmd, until: toWall(cmd.until, this.h.clock) } : cmd;
    const r = await forwardCommand(
      this.fleet,
      group,
      {
        id: requestId(this.fleet),
        from: this.fleet.name,
        command,
        ...(caller?.by ? { by: caller.by } : {}),
        who: caller?.who ?? "operator",
        ...(caller?.reason ? { reason: caller.reason } : {}),
      },
      FORWARD_TIMEOUT_MS,
    );
    return {
      ok: r.ok,
      ...(r.error !== undefined ? { error: r.error } : {}),
      events: "events" in r ? r.events : [],
    };
  }

  /** The leader: runs the commands followers forwarded (each once), and answers them under its token. */
  serve(group: string): void {
    const fence = this.fenceOf(group);
    if (fence === undefined) return;
    let served = this.served.get(group);
    if (!served) this.served.set(group, (served = new Set()));
    for (const [id, json] of this.fleet.votes.commandsOf(group)) {
      if (served.has(id)) continue;
      served.add(id);
      const req = parseRequest(json);
      this.commands = this.commands
        .then(async () => {
          if (this.fenceOf(group) !== fence) return; // no longer leads: the next leader serves it
          // Taken in etcd first (withdrawn by the follower meanwhile, or not ours to take: not run).
          if (!(await takeCommand(this.fleet, group, fence, id).catch(() => false))) return;
          const cmd = req?.command;
          const command =
            cmd && "until" in cmd && cmd.until !== undefined
              ? { ...cmd, until: fromWall(cmd.until, this.h.clock) }
              : cmd;
          const r = command
            ? await this.h.runCommand(group, command, {
                ...(req?.by ? { by: req.by } : {}),
                who: `${req?.who ?? "operator"} via ${req?.from}`,
                ...(req?.reason ? { reason: req.reason } : {}),
              })
            : { ok: false, error: "not a command", events: [] };
          await answerCommand(this.fleet, group, fence, id, { ...r, leader: this.fleet.name }).catch(
            (e: Error) =>
              this.h.log.warn({ group, id, err: e.message }, "could not answer a forwarded command"),
          );
        })
        .catch((e: Error) => this.h.log.error({ group, id, err: e.message }, "a forwarded command failed"));
    }
    // Forget ids no longer pending (answered, withdrawn): the set stays as small as the queue.
    const pending = this.fleet.votes.commandsOf(group);
    for (const id of served) if (!pending.has(id)) served.delete(id);
  }
}

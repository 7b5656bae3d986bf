/** The operator commands of the API, from a request's body. */
import type { Command } from "../groups/controller.js";
import { type Clock, fromWall, systemClock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";

export const API_COMMANDS = ["failover", "failback", "pin", "unpin", "freeze", "unfreeze"] as const;
export type ApiCommand = (typeof API_COMMANDS)[number];

/**
 * A command from its name and request body; a string is the error. The command's times are on the daemon's
 * monotonic clock: `for` counts from now, `until` (wall ms since the epoch, as people and tools give it) is
 * converted.
 */
export function toCommand(
  name: ApiCommand,
  body: Record<string, unknown>,
  clock: Clock = systemClock,
): Command | string {
  const member = typeof body.member === "string" ? body.member : undefined;
  let until: number | undefined;
  if (typeof body.until === "number") until = fromWall(body.until, clock);
  else if (typeof body.for === "string") {
    const d = parseDuration(body.for);
    if (d === undefined) return `"for": "${body.for}" is not a duration (e.g. 30m, 2h)`;
    until = clock.mono() + d;
  }
  switch (name) {
    case "failover":
      return {
        command: "failover",
        ...(member ? { member } : {}),
        ...(until !== undefined ? { until } : {}),
      };
    case "failback":
      return { command: "failback" };
    case "pin": {
      if (!member) return 'pin needs "member"';
      return {
        command: "pin",
        member,
        ...(until !== undefined ? { until } : {}),
        ...(body.force === true ? { force: true } : {}),
      };
    }
    case "unpin":
      return { command: "unpin" };
    case "freeze":
      return { command: "freeze", ...(typeof body.reason === "string" ? { reason: body.reason } : {}) };
    case "unfreeze":
      return { command: "unfreeze" };
  }
}

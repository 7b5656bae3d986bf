/**
 * The md collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 */
import { resolve } from "node:path";
import { z } from "zod";
import type { MetricInfo } from "../../src/collector.js";
import { nonEmpty, polling, withTimeout } from "../../src/config/fields.js";

export const type = "md";

export const schema = z
  .strictObject({
    ...polling("10s"),
    type: z.literal(type),
    root: nonEmpty
      .optional()
      .meta({ description: "A fake / (reads ROOT/proc/mdstat) for tests; relative to the config file" }),
  })
  .transform(withTimeout);

export type MdCollectorSpec = z.output<typeof schema>;

/** `root` is relative to the config file. */
export function resolvePaths(spec: MdCollectorSpec, base: string): MdCollectorSpec {
  return spec.root === undefined ? spec : { ...spec, root: resolve(base, spec.root) };
}

export const metrics: readonly MetricInfo[] = [
  {
    name: "md.array",
    labels: ["array", "level"],
    help: "component state: 0 ok (clean, checking), 1 warning (resync, recovery, reshape), 2 failed (degraded, inactive)",
  },
  {
    name: "md.state",
    labels: ["array", "level", "state"],
    help: "state set: 1 for the array's current state, 0 for the others",
  },
  {
    name: "md.devices",
    labels: ["array", "level", "role"],
    help: "member devices by role: total, active, failed, spare",
  },
  {
    name: "md.sync_percent",
    labels: ["array", "level"],
    help: "%, 0–100, of a running recovery, resync, check or reshape; absent otherwise",
  },
];

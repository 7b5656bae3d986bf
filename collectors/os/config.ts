/**
 * The os collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 */
import { resolve } from "node:path";
import { z } from "zod";
import type { MetricInfo } from "../../src/collector.js";
import { nonEmpty, polling, withTimeout } from "../../src/config/fields.js";

export const type = "os";

export const schema = z
  .strictObject({
    ...polling("5s"),
    type: z.literal(type),
    root: nonEmpty
      .optional()
      .meta({ description: "A fake / (ROOT/proc, ROOT/sys) for tests; relative to the config file" }),
    network_filesystems: z.boolean().optional().meta({
      description:
        "Also report nfs, cifs, smb3, 9p, ceph, sshfs, fuse.* ... mounts (default false: a statfs on a dead server hangs; each statfs is bounded to 1s anyway)",
    }),
  })
  .transform(withTimeout);

export type OsCollectorSpec = z.output<typeof schema>;

/** `root` is relative to the config file. */
export function resolvePaths(spec: OsCollectorSpec, base: string): OsCollectorSpec {
  return spec.root === undefined ? spec : { ...spec, root: resolve(base, spec.root) };
}

export const metrics: readonly MetricInfo[] = [
  { name: "cpu.load_percent", labels: [], help: "% busy, 0–100, all CPUs together" },
  { name: "mem.used_percent", labels: [], help: "%, 0–100: (MemTotal − MemAvailable) / MemTotal" },
  { name: "load.1", labels: [], help: "1-minute load average" },
  { name: "load.5", labels: [], help: "5-minute load average" },
  { name: "load.15", labels: [], help: "15-minute load average" },
  { name: "fs.used_percent", labels: ["mount", "device", "fstype"], help: "%, 0–100, as df" },
  {
    name: "fs.free_bytes",
    labels: ["mount", "device", "fstype"],
    help: "bytes an unprivileged user can write",
  },
  { name: "nic.link_up", labels: ["device"], help: "1 up, 0 down" },
  { name: "nic.speed_mbps", labels: ["device"], help: "Mb/s" },
  { name: "nic.errors", labels: ["device", "direction"], help: "counter of rx/tx errors" },
  { name: "nic.drops", labels: ["device", "direction"], help: "counter of rx/tx drops" },
];

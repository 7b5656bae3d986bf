/**
 * The probe collector's configuration block and what it emits (its metric catalogue): the registry in
 * `collectors/index.ts` builds `standby.yaml`'s schema, `standby check`'s warnings and the docs test from these.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { type Route, readRoutes } from "../../src/actions/routes.js";
import type { MetricInfo } from "../../src/collector.js";
import { describeValue, nonEmpty, polling, withTimeout } from "../../src/config/fields.js";

export const type = "probe";

const probeSpec = z
  .strictObject({
    kind: z.enum(["icmp", "tcp", "http"]),
    target: nonEmpty.meta({ description: "icmp: a host; tcp: host:port; http: a URL" }),
    source: nonEmpty.optional(),
    interface: nonEmpty.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.kind === "tcp" && !/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(p.target)) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: `${describeValue(p.target)} is not HOST:PORT; a tcp probe expects e.g. 10.0.0.1:443`,
      });
    }
    if (p.kind === "http" && !/^https?:\/\/\S+$/.test(p.target)) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: `${describeValue(p.target)} is not an http(s) URL; an http probe expects e.g. http://10.0.0.1/health`,
      });
    }
    if (p.source !== undefined && isIP(p.source) === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: `${describeValue(p.source)} is not an IP address; expected the local address to probe from, e.g. 10.200.1.2`,
      });
    }
    if (p.interface !== undefined && p.kind !== "icmp") {
      ctx.addIssue({
        code: "custom",
        path: ["interface"],
        message: `a ${p.kind} probe cannot bind an interface; expected \`source\` (a local address) instead`,
      });
    }
    if (p.target.startsWith("-")) {
      ctx.addIssue({ code: "custom", path: ["target"], message: `${describeValue(p.target)} is not a host` });
    }
  });

export const schema = z
  .strictObject({ ...polling("1s"), type: z.literal(type), probe: probeSpec })
  .transform(withTimeout);

export type ProbeCollectorSpec = z.output<typeof schema>;

export const metrics: readonly MetricInfo[] = [
  { name: "probe.success", labels: ["kind", "target"], help: "1 answered, 0 lost" },
  { name: "probe.rtt_ms", labels: ["kind", "target"], help: "round trip, connect or response time in ms" },
];

/**
 * `target: gateway` probes the default route's gateway, read when the collectors start, on reload and every 15 s
 * (a changed gateway replaces the probe); throws when there is none (the daemon then tries again every 5 s and
 * starts the probe once there is one: src/daemon/collectors.ts).
 */
export async function prepare(
  spec: ProbeCollectorSpec,
  routes: () => Promise<readonly Route[]> = () => readRoutes(),
): Promise<ProbeCollectorSpec> {
  if (spec.probe.target !== "gateway") return spec;
  const gw = (await routes()).find((r) => r.dst === "default" && r.gateway)?.gateway;
  if (!gw) throw new Error("cannot find the default gateway to probe: no default route with a gateway");
  return { ...spec, probe: { ...spec.probe, target: gw } };
}

/** The interface an icmp probe binds, for the start-up check of interfaces that do not exist. */
export function interfaces(spec: ProbeCollectorSpec): string[] {
  return spec.probe.interface ? [spec.probe.interface] : [];
}

/**
 * The collector registry: one line per collector type (as Telegraf's `plugins/inputs/all`). A collector is one
 * folder — `config.ts` (its schema, metric catalogue and config hooks), `index.ts` (the factory), `parse.ts`,
 * `README.md`, `sample.yaml` — and its line here. `standby.yaml`'s schema, `standby check` and the daemon take
 * everything they know of collectors from this list; no collector name appears in src/config or src/daemon.
 */
import type { z } from "zod";
import type { Collector, CollectorContext, MetricInfo } from "../src/collector.js";
import * as ipmi from "./ipmi/config.js";
import { createIpmiCollector } from "./ipmi/index.js";
import * as md from "./md/config.js";
import { createMdCollector } from "./md/index.js";
import * as os from "./os/config.js";
import { createOsCollector } from "./os/index.js";
import * as probe from "./probe/config.js";
import { createProbeCollector } from "./probe/index.js";
import * as smart from "./smart/config.js";
import { createSmartCollector } from "./smart/index.js";
import * as snmp from "./snmp/config.js";
import { createSnmpCollector } from "./snmp/index.js";
import * as snmpTrap from "./snmp_trap/config.js";
import { createSnmpTrapCollector } from "./snmp_trap/index.js";

/** What a collector's `config.ts` exports. */
interface CollectorConfig<S extends z.ZodType> {
  readonly type: string;
  readonly schema: S;
  readonly metrics: readonly MetricInfo[];
  /** Resolves the block's relative paths against the config file's directory. */
  readonly resolvePaths?: (spec: z.output<S>, base: string) => z.output<S>;
  /** Network interfaces the block names (reported at start when they do not exist). */
  readonly interfaces?: (spec: z.output<S>) => string[];
  /** Resolves what can only be known on the host, when the collectors start and on reload (`target: gateway`). */
  readonly prepare?: (spec: z.output<S>) => Promise<z.output<S>>;
  /** Metrics a block adds to the catalogue beyond `metrics` (snmp's user-defined `oids:`). */
  readonly metricsOf?: (spec: z.output<S>) => readonly MetricInfo[];
}

export interface CollectorDefinition<S extends z.ZodType = z.ZodType> extends CollectorConfig<S> {
  readonly create: (spec: z.output<S>, ctx: CollectorContext) => Collector | Collector[];
}

function define<S extends z.ZodType>(
  config: CollectorConfig<S>,
  create: (spec: z.output<S>, ctx: CollectorContext) => Collector | Collector[],
): CollectorDefinition<S> {
  return { ...config, create };
}

// biome-ignore format: one line per collector, so that adding one is a one-line diff
export const COLLECTORS = [
  define(os, createOsCollector),
  define(probe, createProbeCollector),
  define(ipmi, createIpmiCollector),
  define(md, createMdCollector),
  define(smart, createSmartCollector),
  define(snmp, createSnmpCollector),
  define(snmpTrap, createSnmpTrapCollector),
] as const;

type AnyDefinition = (typeof COLLECTORS)[number];
export type CollectorSpec = z.output<AnyDefinition["schema"]>;

/** The definition of a collector type, if this build has it. */
export function collectorDefinition(type: string): CollectorDefinition | undefined {
  return COLLECTORS.find((c) => c.type === type) as CollectorDefinition | undefined;
}

/** The block as the host resolves it (`prepare`), or as written. Throws with a message when it cannot be. */
export async function prepareCollector(spec: CollectorSpec): Promise<CollectorSpec> {
  const def = collectorDefinition(spec.type);
  return def?.prepare ? ((await def.prepare(spec)) as CollectorSpec) : spec;
}

/** Network interfaces the block names. */
export function collectorInterfaces(spec: CollectorSpec): string[] {
  return collectorDefinition(spec.type)?.interfaces?.(spec) ?? [];
}

/** The collectors for one config block (one block may give several, e.g. os: a poller and a link watcher). */
export function createCollectors(spec: CollectorSpec, ctx: CollectorContext): Collector[] {
  const def = collectorDefinition(spec.type);
  if (!def) throw new Error(`collector type "${spec.type}" is not available in this build`);
  const c = def.create(spec, ctx);
  return Array.isArray(c) ? c : [c];
}

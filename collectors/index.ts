/**
 * The collector registry: one line per collector type. Each collector lives in its own folder with its
 * README (config block, metrics and labels it emits).
 */
import type { Collector, CollectorContext } from "../src/collector.js";
import type { CollectorSpec } from "../src/config/schema.js";
import { createOsCollector } from "./os/index.js";

import { createProbeCollector } from "./probe/index.js";

type Factory<T extends CollectorSpec["type"]> = (
  spec: Extract<CollectorSpec, { type: T }>,
  ctx: CollectorContext,
) => Collector | Collector[];

const REGISTRY: { [T in CollectorSpec["type"]]?: Factory<T> } = {
  os: createOsCollector,
  probe: createProbeCollector,
};

/** The collectors for one config block; throws when the type is not implemented yet. */
export function createCollectors(spec: CollectorSpec, ctx: CollectorContext): Collector[] {
  const factory = REGISTRY[spec.type] as Factory<typeof spec.type> | undefined;
  if (!factory) throw new Error(`collector type "${spec.type}" is not implemented yet`);
  const c = factory(spec as never, ctx);
  return Array.isArray(c) ? c : [c];
}

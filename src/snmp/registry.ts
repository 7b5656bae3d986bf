/**
 * What the `snmp` collectors tell the `snmp_trap` receiver about the agents they poll, so that a trap becomes a
 * sample of the very series the poll produces (the same metric, the same label object): the rule instance that
 * judges the poll judges the trap, and the next poll confirms or corrects it.
 *
 * One registry per process; a polling collector registers its agent when it starts and unregisters on close.
 */
import type { Labels } from "../engine/types.js";

export interface PolledAgent {
  /** The collector's name (its samples' `collector` label). */
  readonly collector: string;
  /** `host:port`, the `target` label. */
  readonly target: string;
  /**
   * The labels of the series `metric` for the table row `index` (`snmp.if.oper_status` and ifIndex 2;
   * `snmp.psu` and its ciscoEnvMon index), as the last poll made them — the poll's own frozen object — or, before
   * the first poll saw that row, the collector's labels with the index alone. Undefined when this agent's
   * collector does not report that metric.
   */
  labels(metric: string, index: string): Labels | undefined;
}

/** Agents by the address their traps come from (the target's host as an IP address). */
const agents = new Map<string, Set<PolledAgent>>();

/** Registers a polled agent under the address its traps come from; returns the unregistration. */
export function registerAgent(address: string, agent: PolledAgent): () => void {
  let set = agents.get(address);
  if (!set) agents.set(address, (set = new Set()));
  set.add(agent);
  return () => {
    const s = agents.get(address);
    s?.delete(agent);
    if (s?.size === 0) agents.delete(address);
  };
}

/** The polled agents at an address (usually one; several when two blocks poll the same agent). */
export function agentsAt(address: string): readonly PolledAgent[] {
  const s = agents.get(address);
  return s ? [...s] : [];
}

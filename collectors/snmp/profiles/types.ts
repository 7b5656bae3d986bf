/**
 * What a profile is: a named set of OIDs read through a `Reader` (GET, and tables read column-wise under the
 * agent's in-flight limit) and turned into samples through an `Out` (label objects built once per series,
 * component states remembered so that a dead agent's series can be reported unknown).
 */
import type { Labels } from "../../../src/engine/types.js";
import type { Varbind } from "../../../src/snmp/session.js";
import { numberOf, textOf } from "../../../src/snmp/session.js";
import type { Table } from "../../../src/snmp/table.js";
import type { ComponentState } from "../../../src/states.js";

export type { Table } from "../../../src/snmp/table.js";

export interface Reader {
  /** GET: the varbinds in the order asked (noSuchObject/noSuchInstance as varbind errors, not rejections). */
  get(oids: readonly string[]): Promise<Varbind[]>;
  /** Every row of these columns of the table entry `entry`. */
  table(entry: string, columns: readonly number[]): Promise<Table>;
  /** Several tables' columns read together, in the same GETBULKs (fewer requests than a `table` each). */
  tables<const G extends readonly (readonly [entry: string, columns: readonly number[]])[]>(
    groups: G,
  ): Promise<{ -readonly [K in keyof G]: Table }>;
}

export interface Out {
  /** The label object of one series, built once and reused while `extra` stays the same (engine identity cache). */
  labels(key: string, extra: Readonly<Record<string, string>>): Labels;
  /** A component-state sample; `index` is the table row (what a trap names), for the trap registry. */
  state(metric: string, index: string | undefined, labels: Labels, state: ComponentState): void;
  /** A number; with `index`, the trap receiver may ask for its labels too (`snmp.if.admin_status`). */
  number(metric: string, labels: Labels, value: number, index?: string): void;
}

export interface Profile {
  readonly name: string;
  /** Per-row metrics a trap may name → the label that carries the row's index (`snmp.psu` → `index`). */
  readonly indexed: Readonly<Record<string, string>>;
  poll(r: Reader, out: Out): Promise<void>;
}

/** A column's value as a number (counters and gauges; Counter64 too), or undefined. */
export function num(row: Map<number, Varbind> | undefined, col: number): number | undefined {
  const vb = row?.get(col);
  return vb ? numberOf(vb) : undefined;
}

/** A column's value as text, or undefined. */
export function text(row: Map<number, Varbind> | undefined, col: number): string | undefined {
  const vb = row?.get(col);
  return vb ? textOf(vb) : undefined;
}

/** An integer → state word map, `unknown` for a value it does not list. */
export function stateOf(
  map: Readonly<Record<number, ComponentState>>,
  v: number | undefined,
): ComponentState {
  return (v !== undefined ? map[v] : undefined) ?? "unknown";
}

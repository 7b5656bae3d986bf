/**
 * The block's own `oids:`: any vendor's scalar or table read without code. A scalar `oid` is one sample; a `table`
 * is one sample per row, labelled `index` (the row's OID suffix) and with the text of its `label_columns`; with
 * `states` the integer read is mapped to a state word (a component state; a value the map lacks is `unknown`),
 * without it the value is a number (a number in text, as laLoad's "0.42", is read too).
 */
import { numberOf, snmp, textOf, type Varbind } from "../../../src/snmp/session.js";
import type { ComponentState } from "../../../src/states.js";
import type { CustomOid } from "../config.js";
import { type Out, type Profile, type Reader, stateOf } from "./types.js";

/** GET at most this many OIDs in one request (agents limit a response's size). */
const GET_CHUNK = 20;

/** A varbind's number: integers, counters, gauges; text that is a number. */
export function readValue(vb: Varbind | undefined): number | undefined {
  if (!vb || snmp.isVarbindError(vb)) return undefined;
  const n = numberOf(vb);
  if (n !== undefined) return n;
  const t = textOf(vb)?.trim();
  return t !== undefined && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t) ? Number(t) : undefined;
}

function emit(
  out: Out,
  o: CustomOid,
  index: string | undefined,
  labels: ReturnType<Out["labels"]>,
  v: number,
) {
  if (o.states)
    out.state(o.metric, index, labels, stateOf(o.states as unknown as Record<number, ComponentState>, v));
  else out.number(o.metric, labels, v);
}

export function customProfile(oids: readonly CustomOid[]): Profile {
  const indexed: Record<string, string> = {};
  for (const o of oids) if (o.table !== undefined && o.states) indexed[o.metric] = "index";
  const scalars = oids.flatMap((o, i) => (o.oid !== undefined ? [{ o, i, oid: o.oid }] : []));
  // One walk per table, of the union of the columns its entries use.
  const tables = new Map<string, Set<number>>();
  for (const o of oids) {
    if (o.table === undefined) continue;
    const cols = tables.get(o.table) ?? new Set<number>();
    cols.add(o.value!);
    for (const c of Object.values(o.label_columns ?? {})) cols.add(c);
    tables.set(o.table, cols);
  }
  return {
    name: "oids",
    indexed,
    async poll(r: Reader, out: Out): Promise<void> {
      const chunks: Promise<Varbind[]>[] = [];
      for (let k = 0; k < scalars.length; k += GET_CHUNK)
        chunks.push(r.get(scalars.slice(k, k + GET_CHUNK).map((s) => s.oid)));
      const walked = [...tables].map(async ([t, cols]) => [t, await r.table(t, [...cols])] as const);
      const [got, read] = await Promise.all([Promise.all(chunks), Promise.all(walked)]);
      const vbs = got.flat();
      for (const [k, { o, i }] of scalars.entries()) {
        const v = readValue(vbs[k]);
        if (v !== undefined) emit(out, o, undefined, out.labels(`oid\0${i}`, { ...o.labels }), v);
      }
      const byTable = new Map(read);
      for (const [i, o] of oids.entries()) {
        if (o.table === undefined) continue;
        for (const [index, row] of byTable.get(o.table) ?? []) {
          const v = readValue(row.get(o.value!));
          if (v === undefined) continue;
          const extra: Record<string, string> = { index };
          for (const [label, col] of Object.entries(o.label_columns ?? {})) {
            const vb = row.get(col);
            extra[label] = vb && !snmp.isVarbindError(vb) ? (textOf(vb) ?? "") : "";
          }
          emit(out, o, index, out.labels(`oid\0${i}\0${index}`, { ...extra, ...o.labels }), v);
        }
      }
    },
  };
}

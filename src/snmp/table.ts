/**
 * Reading a table's columns in as few requests as the agent allows: one GETBULK asks for every wanted column at
 * once (one repeater per column), so a table of N rows costs about N / maxRepetitions requests whatever the
 * number of columns — ten columns of ifTable on a 48-port switch are 2 requests, not the 20 that a `subtree` per
 * column would be. Each column stops at the end of its own subtree; an agent that truncates a big response (it
 * may) is simply asked again from where each column got to. SNMPv1 has no GETBULK: there, `subtree` per column
 * (GETNEXT), one column after the other.
 */
import { snmp, type Varbind } from "./session.js";

/** The rows of some columns: index (the OID suffix after the column, `3` or `1.4.2`) → column → varbind. */
export type Table = Map<string, Map<number, Varbind>>;

/** A GETBULK of `oids` (no non-repeaters): for each OID asked, the varbinds that followed it. */
export function getBulk(
  session: snmp.Session,
  oids: readonly string[],
  maxRepetitions: number,
): Promise<Varbind[][]> {
  return new Promise((resolve, reject) => {
    session.getBulk([...oids], 0, maxRepetitions, (err, vbs) =>
      err ? reject(err) : resolve((vbs ?? []) as unknown as Varbind[][]),
    );
  });
}

/** A safety net against an agent that never ends a column (each round must move every live column forward). */
const MAX_ROUNDS = 10_000;

/**
 * Every row of `columns` (numbers) under the table entry `entry` (`1.3.6.1.2.1.2.2.1`). `request` sends one
 * GETBULK (the caller's in-flight limit and deadline wrap it); with `v1`, `walk` reads one column (GETNEXT).
 */
export async function readColumns(
  entry: string,
  columns: readonly number[],
  io: {
    readonly request: (oids: readonly string[]) => Promise<Varbind[][]>;
    readonly walk?: (oid: string) => Promise<Varbind[]>;
  },
): Promise<Table> {
  const base = entry.replace(/^\./, "");
  const prefixes = columns.map((c) => `${base}.${c}.`);
  const table: Table = new Map();
  const put = (col: number, prefix: string, vb: Varbind) => {
    const index = vb.oid.slice(prefix.length);
    let row = table.get(index);
    if (!row) table.set(index, (row = new Map()));
    row.set(col, vb);
  };
  if (io.walk) {
    for (const [i, col] of columns.entries())
      for (const vb of await io.walk(`${base}.${col}`))
        if (vb.oid.startsWith(prefixes[i]!)) put(col, prefixes[i]!, vb);
    return table;
  }
  const cursor = columns.map((c) => `${base}.${c}`);
  let live = columns.map((_, i) => i);
  for (let round = 0; live.length > 0; round++) {
    if (round >= MAX_ROUNDS) throw new Error(`table ${base}: the agent never ended it`);
    const res = await io.request(live.map((i) => cursor[i]!));
    const next: number[] = [];
    let moved = false;
    for (const [k, i] of live.entries()) {
      let ended = false;
      let got = false;
      for (const vb of res[k] ?? []) {
        if (snmp.isVarbindError(vb) || !vb.oid.startsWith(prefixes[i]!)) {
          ended = true;
          break;
        }
        put(columns[i]!, prefixes[i]!, vb);
        cursor[i] = vb.oid;
        got = true;
      }
      if (got) moved = true;
      if (!ended) next.push(i);
    }
    // A response that moved no column forward and ended none would loop for ever: stop there.
    if (!moved && next.length === live.length) break;
    live = next;
  }
  return table;
}

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
  return (await readTables([[entry, columns]], io))[0]!;
}

/**
 * The columns of several tables at once — ifTable and ifXTable, the three CISCO-ENVMON tables — in the same
 * GETBULKs: one request a poll where a table each would be one request per table (each request is a datagram
 * both ways, and on a poller of 1,000 agents the sends are most of its CPU).
 */
export async function readTables(
  groups: readonly (readonly [entry: string, columns: readonly number[]])[],
  io: {
    readonly request: (oids: readonly string[]) => Promise<Varbind[][]>;
    readonly walk?: (oid: string) => Promise<Varbind[]>;
  },
): Promise<Table[]> {
  const tables: Table[] = groups.map(() => new Map());
  const cols = groups.flatMap(([entry, columns], g) => {
    const base = entry.replace(/^\./, "");
    return columns.map((col) => ({ g, col, oid: `${base}.${col}`, prefix: `${base}.${col}.` }));
  });
  const put = (c: (typeof cols)[number], vb: Varbind) => {
    const index = vb.oid.slice(c.prefix.length);
    const table = tables[c.g]!;
    let row = table.get(index);
    if (!row) table.set(index, (row = new Map()));
    row.set(c.col, vb);
  };
  if (io.walk) {
    for (const c of cols) for (const vb of await io.walk(c.oid)) if (vb.oid.startsWith(c.prefix)) put(c, vb);
    return tables;
  }
  const cursor = cols.map((c) => c.oid);
  let live = cols.map((_, i) => i);
  for (let round = 0; live.length > 0; round++) {
    if (round >= MAX_ROUNDS)
      throw new Error(`table ${groups.map(([e]) => e).join(", ")}: the agent never ended it`);
    const res = await io.request(live.map((i) => cursor[i]!));
    const next: number[] = [];
    let moved = false;
    for (const [k, i] of live.entries()) {
      const c = cols[i]!;
      let ended = false;
      let got = false;
      for (const vb of res[k] ?? []) {
        if (snmp.isVarbindError(vb) || !vb.oid.startsWith(c.prefix)) {
          ended = true;
          break;
        }
        put(c, vb);
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
  return tables;
}

/**
 * The collector's side of one agent: one net-snmp session (opened lazily, reopened after a failed poll — a v3
 * agent that restarted has new engine boots, a renamed host a new address), an in-flight limit (never more than
 * `max_inflight` requests outstanding to the agent: snmpd drops datagrams above ~250), and the reads profiles
 * use: GET, and tables read column-wise with GETBULK (GETNEXT per column on SNMPv1).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import {
  get,
  openSession,
  type SessionOptions,
  type snmp,
  subtree,
  type Varbind,
} from "../../src/snmp/session.js";
import { getBulk, readTables, type Table } from "../../src/snmp/table.js";
import type { SnmpCollectorSpec } from "./config.js";
import type { Reader } from "./profiles/types.js";

/** A counting semaphore: `run` waits for a free slot. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most requests that were outstanding at once (for tests and the bench). */
  peak = 0;

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Host-name lookups in flight at once, over all agents. getaddrinfo runs on libuv's thread pool (4 threads), which
 * also writes state.json and the event log: a dead DNS server with many named targets must not take all of it.
 */
export const DNS_LOOKUPS = new Limiter(2);

/** Errors that mean the agent did not answer us (or not as us): the poll failed, `snmp.up` 0. */
export function isAgentDown(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  if (name === "RequestTimedOutError") return true;
  if (name === "ResponseInvalidError")
    return /digest|unknown user|decrypt|time window|unknown engine|security level|Unexpected Report/i.test(
      (err as Error).message,
    );
  return /Socket forcibly closed|ERR_SOCKET_DGRAM_NOT_RUNNING|Not running/i.test(
    `${(err as Error | undefined)?.message} ${(err as { code?: string } | undefined)?.code}`,
  );
}

export class AgentIO {
  readonly limit: Limiter;
  private session: snmp.Session | undefined;
  /** The address requests go to (the host resolved once; again after a failed poll). */
  address: string | undefined;
  /** Requests sent since start. */
  requests = 0;
  /** Rows each table had at the last poll: the next GETBULK asks for that many (+1), not max_repetitions. */
  private readonly rows = new Map<string, number>();
  /** The lookup in flight: a poll that gave up on it does not start another (a hung resolver stacks nothing). */
  private pending: Promise<string> | undefined;

  constructor(
    private readonly spec: SnmpCollectorSpec,
    private readonly options: SessionOptions = {},
    private readonly lookupHost: (host: string) => Promise<string> = async (h) => (await lookup(h)).address,
  ) {
    this.limit = new Limiter(spec.max_inflight);
    if (isIP(spec.target.host)) this.address = spec.target.host;
  }

  /** The agent's IP address (resolving the host name when it is one). Throws when it cannot be resolved. */
  async resolve(): Promise<string> {
    if (this.address !== undefined) return this.address;
    this.pending ??= DNS_LOOKUPS.run(() => this.lookupHost(this.spec.target.host)).finally(() => {
      this.pending = undefined;
    });
    this.address = await this.pending;
    return this.address;
  }

  /** A reader on the current session (opened if needed). */
  async reader(): Promise<Reader> {
    if (!this.session) {
      const host = await this.resolve();
      this.session = await openSession({ ...this.spec.target, host }, this.options);
    }
    return this.readerOn(this.session);
  }

  /**
   * The repetitions asked of a table whose size is not known yet: `max_repetitions`, halved after each poll that
   * got no answer in time (an agent too slow for big responses — a Python simulator, a busy switch CPU — must not
   * be asked the same big request for ever), back to `max_repetitions` once a poll is answered.
   */
  private repCap: number | undefined;

  /** A poll got no answer in time: ask smaller first requests next time. */
  backoff(): void {
    this.repCap = Math.max(1, Math.floor((this.repCap ?? this.spec.max_repetitions) / 2));
  }

  /** A poll was answered: the full `max_repetitions` again. */
  answered(): void {
    this.repCap = undefined;
  }

  private readerOn(s: snmp.Session): Reader {
    const maxRep = this.repCap ?? this.spec.max_repetitions;
    const v1 = this.spec.target.version === "1";
    const limited = <T>(f: () => Promise<T>) =>
      this.limit.run(() => {
        this.requests++;
        return f();
      });
    const tables = async (
      groups: readonly (readonly [entry: string, columns: readonly number[]])[],
    ): Promise<Table[]> => {
      // A table's size rarely changes: asking for the rows it had (+1 to see its end) makes a poll one request
      // that returns what is needed, where max_repetitions would make the agent walk past every column's end.
      const known = groups.map(([entry]) => this.rows.get(entry));
      // A table that grew needs more rounds: those ask for max_repetitions again.
      let rep = known.every((k) => k !== undefined)
        ? Math.max(1, Math.min(maxRep, Math.max(...(known as number[])) + 1))
        : maxRep;
      const t = await readTables(
        groups,
        v1
          ? { request: () => Promise.resolve([]), walk: (oid) => limited(() => subtree(s, oid, maxRep)) }
          : {
              request: (oids) => {
                const r = rep;
                rep = maxRep;
                return limited(() => getBulk(s, oids, r));
              },
            },
      );
      groups.forEach(([entry], i) => {
        this.rows.set(entry, t[i]!.size);
      });
      return t;
    };
    return {
      get: (oids) => limited(() => get(s, oids)),
      table: async (entry, cols): Promise<Table> => (await tables([[entry, cols]]))[0]!,
      tables: <const G extends readonly (readonly [entry: string, columns: readonly number[]])[]>(
        groups: G,
      ) => tables(groups) as Promise<{ -readonly [K in keyof G]: Table }>,
    };
  }

  /**
   * Closes the session: requests still outstanding fail at once ("Socket forcibly closed"). The next poll opens
   * a new one, to an address resolved again when the host is a name.
   */
  reset(): void {
    const s = this.session;
    this.session = undefined;
    if (!isIP(this.spec.target.host)) this.address = undefined;
    try {
      s?.close();
    } catch {
      // already closed
    }
  }
}

export type { Varbind };

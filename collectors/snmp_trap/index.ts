/**
 * The `snmp_trap` receiver: a stream collector that turns SNMP traps and informs (v1, v2c, v3) from the agents
 * the `snmp` collectors poll into samples of the poll's own series — linkDown/linkUp as `snmp.if.oper_status`,
 * CISCO-ENVMON supply and fan notifications as `snmp.psu` / `snmp.fan` — with the poll's label objects, so the
 * rule instance that judges the poll judges the trap at once, and the next poll confirms or corrects it.
 *
 * Sources outside `allow` (default: the polled agents) are dropped before decoding; a wrong community or v3
 * user is rejected by net-snmp's authorizer; malformed datagrams are counted, never fatal; a port that cannot
 * be bound is retried with backoff. Every kind of drop is counted (`stats`) and logged once per source, never
 * with the community. See README.md.
 */
import { BlockList } from "node:net";
import type { CollectorContext, StreamCollector } from "../../src/collector.js";
import type { Secret } from "../../src/config/secret.js";
import { resolveSecret } from "../../src/config/secrets.js";
import type { Sample } from "../../src/engine/types.js";
import { agentsAt, type PolledAgent } from "../../src/snmp/registry.js";
import { snmp } from "../../src/snmp/session.js";
import { parseCidr, parseListen, type SnmpTrapCollectorSpec } from "./config.js";
import { readTrap, samplesOf } from "./map.js";
import { openReceiver, type ReceiverEvents, type TrapReceiver } from "./receiver.js";

/** What the receiver has seen since it started (status pages, tests). */
export interface TrapStats {
  /** Datagrams that arrived, from anywhere. */
  received: number;
  /** Traps and informs that passed the source and authentication checks and were decoded. */
  accepted: number;
  /** Datagrams from a source outside `allow` (dropped undecoded). */
  rejected_source: number;
  /** A wrong community, an unknown v3 user, a wrong key, a missing authentication or encryption. */
  rejected_auth: number;
  /** Datagrams that are not SNMP, truncated BER, a PDU that is not a trap or an inform. */
  malformed: number;
  /** Accepted traps from an agent that no snmp collector polls (dropped). */
  unmatched: number;
  /** Accepted traps from a polled agent that say nothing this receiver maps (coldStart, other MIBs). */
  unmapped: number;
  /** Samples emitted. */
  samples: number;
}

export interface SnmpTrapCollector extends StreamCollector {
  readonly stats: Readonly<TrapStats>;
  /** The socket is bound. */
  readonly listening: boolean;
}

export interface SnmpTrapOptions {
  /** Retry delays of a receiver that cannot open: from `min`, doubling to `max`, ms. Default 1000 to 60000. */
  readonly backoff?: { readonly min: number; readonly max: number };
  /** The polled agents at an address (default: src/snmp/registry.ts; tests inject). */
  readonly agentsAt?: (address: string) => readonly PolledAgent[];
  /** How secrets are read (default resolveSecret). */
  readonly resolve?: (s: Secret) => Promise<string>;
}

/** At most this many sources are remembered per kind of log line (a flood of spoofed sources costs nothing). */
const LOG_MEMORY = 1000;

export function createSnmpTrapCollector(
  spec: SnmpTrapCollectorSpec,
  ctx: CollectorContext,
  options: SnmpTrapOptions = {},
): SnmpTrapCollector {
  const listen = parseListen(spec.listen);
  if (!listen)
    throw new Error(`snmp_trap ${spec.name}: listen ${JSON.stringify(spec.listen)} is not udp:HOST:PORT`);
  const backoff = options.backoff ?? { min: 1000, max: 60_000 };
  const polled = options.agentsAt ?? agentsAt;
  const resolve = options.resolve ?? ((s: Secret) => resolveSecret(s));
  const admitted = allowList(spec.allow, polled);
  const allowText = spec.allow?.join(", ") ?? "the agents the snmp collectors poll";
  const who = `snmp_trap ${spec.name}`;
  const base = { collector: spec.name };
  const stats: TrapStats = {
    received: 0,
    accepted: 0,
    rejected_source: 0,
    rejected_auth: 0,
    malformed: 0,
    unmatched: 0,
    unmapped: 0,
    samples: 0,
  };
  let listening = false;

  const seen = new Map<string, Set<string>>();
  /** True the first time `kind` happens for `key` (a source): log it then, count it always. */
  const firstTime = (kind: string, key: string): boolean => {
    let s = seen.get(kind);
    if (!s) seen.set(kind, (s = new Set()));
    if (s.has(key) || s.size >= LOG_MEMORY) return false;
    s.add(key);
    return true;
  };

  const readSecrets = async (): Promise<{ communities: string[]; users: snmp.User[] }> => {
    const communities = await Promise.all((spec.community ?? []).map(resolve));
    if (communities.some((c) => c === "")) throw new Error("a community is empty");
    const users = await Promise.all(
      (spec.users ?? []).map(
        async (u): Promise<snmp.User> => ({
          name: u.user,
          level: u.priv ? snmp.SecurityLevel.authPriv : snmp.SecurityLevel.authNoPriv,
          authProtocol: snmp.AuthProtocols[u.auth.protocol],
          authKey: await resolve(u.auth.key),
          ...(u.priv
            ? { privProtocol: snmp.PrivProtocols[u.priv.protocol], privKey: await resolve(u.priv.key) }
            : {}),
        }),
      ),
    );
    return { communities, users };
  };

  return {
    kind: "stream",
    name: spec.name,
    stats,
    counters: () => ({ ...stats }),
    get listening() {
      return listening;
    },
    start(emit: (samples: Sample[]) => void, signal: AbortSignal): void {
      let receiver: TrapReceiver | undefined;
      let timer: NodeJS.Timeout | undefined;
      let delay = backoff.min;
      let lastFailure = "";
      let lastEmitError = Number.NEGATIVE_INFINITY;

      const emitSafe = (samples: Sample[]): void => {
        try {
          emit(samples);
        } catch (err) {
          if (Date.now() - lastEmitError < 60_000) return;
          lastEmitError = Date.now();
          ctx.log.error(
            { ...base, err: (err as Error)?.message ?? String(err) },
            `${who}: the sample consumer threw; receiving goes on`,
          );
        }
      };

      const retry = (why: string): void => {
        receiver?.close();
        receiver = undefined;
        listening = false;
        if (signal.aborted) return;
        const msg = `${who}: cannot receive traps on ${spec.listen}: ${why}; retrying in ${delay / 1000}s`;
        ctx.report?.(spec.listen, `cannot receive traps: ${why}`);
        if (why !== lastFailure) ctx.log.error({ ...base, listen: spec.listen, err: why }, msg);
        else ctx.log.debug({ ...base, listen: spec.listen, err: why }, msg);
        lastFailure = why;
        timer = setTimeout(() => void open(), delay);
        delay = Math.min(delay * 2, backoff.max);
      };

      const events: ReceiverEvents = {
        admit(address) {
          stats.received++;
          if (admitted(address)) return true;
          stats.rejected_source++;
          if (firstTime("source", address))
            ctx.log.warn(
              { ...base, source: address },
              `${who}: dropped a datagram from ${address}: not in allow (${allowText})`,
            );
          return false;
        },
        trap(trap, source, info) {
          stats.accepted++;
          const agents = polled(source);
          if (agents.length === 0) {
            stats.unmatched++;
            if (firstTime("unmatched", source))
              ctx.log.info(
                { ...base, source, trap: trap.trapOid },
                `${who}: dropped a trap from ${source}: no snmp collector polls that agent, so no rule has its series`,
              );
            return;
          }
          const readings = readTrap(trap);
          const { samples, missing } = samplesOf(readings, agents, ctx.now());
          if (samples.length === 0) {
            stats.unmapped++;
            if (firstTime("unmapped", `${source} ${trap.trapOid}`))
              ctx.log.debug(
                {
                  ...base,
                  source,
                  trap: trap.trapOid,
                  version: info.version,
                  readings: readings.length,
                  missing,
                },
                readings.length === 0
                  ? `${who}: a trap ${trap.trapOid} from ${source} carries nothing this receiver maps`
                  : `${who}: a trap from ${source} names series its snmp collector does not report`,
              );
            return;
          }
          stats.samples += samples.length;
          emitSafe(samples);
        },
        rejected(source, why) {
          stats.rejected_auth++;
          if (firstTime(`auth ${why}`, source ?? "?"))
            ctx.log.warn(
              { ...base, source, reason: why },
              `${who}: rejected a trap from ${source ?? "?"}: ${why}`,
            );
        },
        malformed(source, detail) {
          stats.malformed++;
          if (firstTime("malformed", source ?? "?"))
            ctx.log.warn(
              { ...base, source, detail },
              `${who}: a malformed datagram from ${source ?? "?"} (ignored)`,
            );
        },
        socketError(err) {
          retry(socketReason(err, spec.listen));
        },
        listening() {
          listening = true;
          delay = backoff.min;
          ctx.report?.(spec.listen, undefined);
          ctx.log.info({ ...base, listen: spec.listen }, `${who}: receiving traps on ${spec.listen}`);
          lastFailure = "";
        },
        internalError(err) {
          if (firstTime("internal", String(err)))
            ctx.log.error(
              { ...base, err: (err as Error)?.message ?? String(err) },
              `${who}: a trap could not be handled`,
            );
        },
      };

      const open = async (): Promise<void> => {
        timer = undefined;
        if (signal.aborted) return;
        let secrets: Awaited<ReturnType<typeof readSecrets>>;
        try {
          secrets = await readSecrets();
        } catch (err) {
          retry((err as Error).message);
          return;
        }
        if (signal.aborted) return;
        try {
          receiver = openReceiver({ listen, engineId: spec.engine_id, ...secrets }, events);
        } catch (err) {
          retry((err as Error).message);
        }
      };

      signal.addEventListener(
        "abort",
        () => {
          if (timer) clearTimeout(timer);
          receiver?.close();
          receiver = undefined;
          listening = false;
        },
        { once: true },
      );
      void open();
    },
  };
}

/** Who may send: `allow`'s blocks, or (without `allow`) exactly the agents the snmp collectors poll. */
function allowList(
  allow: readonly string[] | undefined,
  polled: (address: string) => readonly PolledAgent[],
): (address: string) => boolean {
  if (!allow) return (address) => polled(address).length > 0;
  const list = new BlockList();
  for (const text of allow) {
    const c = parseCidr(text)!;
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return (address) => list.check(address, address.includes(":") ? "ipv6" : "ipv4");
}

/** A socket error in a sysadmin's words. */
function socketReason(err: NodeJS.ErrnoException, listen: string): string {
  switch (err.code) {
    case "EADDRINUSE":
      return "the port is in use (another trap receiver, snmptrapd?)";
    case "EACCES":
      return "a port below 1024 needs CAP_NET_BIND_SERVICE (systemd: add it to AmbientCapabilities and CapabilityBoundingSet), or listen on a port above 1023";
    case "EADDRNOTAVAIL":
      return `${listen} is not an address of this host`;
    default:
      return `${err.code ?? "error"}: ${err.message}`;
  }
}

/**
 * net-snmp's trap receiver (`createReceiver`: v1, v2c and v3 traps, informs acked), wrapped for standby:
 * - datagrams from sources the receiver does not admit are dropped **before** they are decoded (no BER parsing,
 *   no v3 decryption, no inform ack, no report for them);
 * - everything net-snmp reports is sorted into a trap, an authentication rejection (said in words that never
 *   carry the community: net-snmp's own message for a wrong community contains it), a malformed datagram, or a
 *   socket error (a port that cannot be bound);
 * - a v3 message from no configured user is rejected: net-snmp's authorizer lets a noAuthNoPriv message with an
 *   empty user name through.
 * Nothing that arrives can throw out of here (a throw in a socket callback would kill the daemon).
 */
import dgram, { type RemoteInfo, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import { snmp } from "../../src/snmp/session.js";
import type { ListenAddress } from "./config.js";
import { type Trap, type TrapVarbind, trapOf } from "./map.js";

export interface ReceiverOptions {
  readonly listen: ListenAddress;
  /** This receiver's engine ID (hex); net-snmp makes a random one without it. */
  readonly engineId?: string | undefined;
  readonly communities: readonly string[];
  readonly users: readonly snmp.User[];
}

export interface TrapInfo {
  readonly version: "1" | "2c" | "3";
  readonly inform: boolean;
}

export interface ReceiverEvents {
  /** Before decoding: is a datagram from `address` looked at at all? */
  admit(address: string): boolean;
  trap(trap: Trap, source: string, info: TrapInfo): void;
  /** A wrong community, an unknown user, a failed digest...: `why` never holds a secret. */
  rejected(source: string | undefined, why: string): void;
  malformed(source: string | undefined, detail: string): void;
  /** The socket failed (a port in use, a privileged port): the receiver is dead, reopen it. */
  socketError(err: NodeJS.ErrnoException): void;
  listening(): void;
  /** A bug in a handler (caught so that it cannot kill the daemon). */
  internalError(err: unknown): void;
}

export interface TrapReceiver {
  close(): void;
}

/** `::ffff:192.0.2.1` (an IPv4 sender on a dual-stack socket) → `192.0.2.1`. */
export function plainAddress(address: string): string {
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : undefined;
  return v4 !== undefined && isIPv4(v4) ? v4 : address;
}

/** Why net-snmp refused a message, in words without the community or a digest. */
export function rejectionOf(err: { name?: string; message?: string; code?: unknown }): string | undefined {
  const msg = err.message ?? "";
  if (err.name === "RequestFailedError") {
    if (msg.startsWith("Local community not found")) return "wrong community";
    if (msg.startsWith("Local user not found and message requires"))
      return "unknown user (authenticated message)";
    if (msg.startsWith("Local user not found")) return "unknown user";
    if (/requires authentication/.test(msg)) return "no authentication, which the user requires";
    if (/requires privacy/.test(msg)) return "not encrypted, which the user requires";
    return "refused by the authorizer";
  }
  if (err.name === "ResponseInvalidError") {
    if (err.code === snmp.ResponseInvalidCode.EAuthFailure)
      return "authentication failed (wrong auth key or protocol)";
    if (err.code === snmp.ResponseInvalidCode.ECouldNotDecrypt)
      return "decryption failed (wrong priv key or protocol)";
  }
  return undefined;
}

interface NetSnmpError extends Error {
  code?: unknown;
  syscall?: string;
  rinfo?: RemoteInfo;
  error?: Error;
}

interface DecodedPdu {
  type: number;
  enterprise?: string;
  generic?: number;
  specific?: number;
  varbinds?: TrapVarbind[];
  community?: string;
  user?: string;
}

/** Opens the receiver; its socket binds asynchronously (`listening` or `socketError` follows). */
export function openReceiver(o: ReceiverOptions, ev: ReceiverEvents): TrapReceiver {
  const userNames = new Set(o.users.map((u) => u.name));
  let socket: Socket | undefined;
  let closed = false;

  const onMessage = (err: NetSnmpError | null, data?: { pdu: DecodedPdu; rinfo: RemoteInfo }): void => {
    if (closed) return;
    try {
      if (err) {
        const source = err.rinfo ? plainAddress(err.rinfo.address) : undefined;
        if (typeof err.code === "string" || err.syscall !== undefined) {
          ev.socketError(err as NodeJS.ErrnoException);
          return;
        }
        const why = rejectionOf(err);
        if (why !== undefined) ev.rejected(source, why);
        else ev.malformed(source, malformedDetail(err));
        return;
      }
      if (!data) return;
      const { pdu, rinfo } = data;
      const source = plainAddress(rinfo.address);
      const v3 = pdu.community === undefined;
      if (v3 && (pdu.user === undefined || !userNames.has(pdu.user))) {
        ev.rejected(source, "a v3 message without a configured user (noAuthNoPriv)");
        return;
      }
      const version = v3 ? "3" : pdu.type === snmp.PduType.Trap ? "1" : "2c";
      ev.trap(trapOf(pdu), source, { version, inform: pdu.type === snmp.PduType.InformRequest });
    } catch (e) {
      ev.internalError(e);
    }
  };

  const receiver = (
    snmp as unknown as { createReceiver(opts: object, cb: typeof onMessage): NetSnmpReceiver }
  ).createReceiver(
    {
      port: o.listen.port,
      address: o.listen.host,
      transport: o.listen.transport,
      disableAuthorization: false,
      includeAuthentication: true,
      ...(o.engineId ? { engineID: o.engineId } : {}),
      dgramModule: {
        createSocket: (type: dgram.SocketType) => (socket = dgram.createSocket(type)),
      },
    },
    onMessage,
  );
  const auth = receiver.getAuthorizer();
  for (const c of o.communities) auth.addCommunity(c);
  for (const u of o.users) auth.addUser(u);

  // Admit before decoding: net-snmp's own listener runs only for datagrams from admitted sources.
  if (socket) {
    const s = socket;
    const decode = s.listeners("message") as ((m: Buffer, r: RemoteInfo) => void)[];
    for (const l of decode) s.removeListener("message", l);
    s.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
      if (closed) return;
      let admitted = false;
      try {
        admitted = ev.admit(plainAddress(rinfo.address));
      } catch (e) {
        ev.internalError(e);
      }
      if (!admitted) return;
      for (const l of decode) {
        try {
          l(msg, rinfo);
        } catch (e) {
          ev.malformed(plainAddress(rinfo.address), (e as Error)?.message ?? String(e));
        }
      }
    });
    s.once("listening", () => {
      if (!closed) ev.listening();
    });
  }

  return {
    close() {
      if (closed) return;
      closed = true;
      try {
        receiver.close();
      } catch {
        // a socket that never bound cannot be closed; nothing to release
      }
    },
  };
}

function malformedDetail(err: NetSnmpError): string {
  const inner = err.name === "ProcessingError" && err.error ? err.error.message : err.message;
  return `${err.name}: ${String(inner ?? "").slice(0, 160)}`;
}

interface NetSnmpReceiver {
  getAuthorizer(): { addCommunity(c: string): void; addUser(u: snmp.User): void };
  close(cb?: () => void): void;
}

/**
 * The API's locks (src/api/README.md): who may do what on which listener, and the limits every request meets
 * before it reaches the daemon. Pure functions and small state, tested on their own.
 *
 * - Unix socket: its permissions (0660, group `standby`) are the authentication; every call is allowed.
 * - TCP: a state-changing call needs the token; reads need it only on a listener other hosts can reach.
 * - Every POST needs `Content-Type: application/json` (a browser cannot send that cross-site without a CORS
 *   preflight, which this API never grants); the `Host` header must name this host (a DNS-rebinding page's host
 *   name is refused); bodies are limited to 64 KiB; state-changing calls to 20 a minute per client.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { hostname } from "node:os";

export const MAX_BODY = 64 * 1024;
export const RATE_LIMIT = { calls: 20, windowMs: 60_000 } as const;

/** The listener a request came in on. */
export type Listener =
  | { readonly kind: "socket" }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/** Who made a state-changing call, as events and logs say it. */
export interface Caller {
  readonly by: "socket" | "token";
  /** "uid 0 (root), pid 4242" or "token 1a2b3c4d". */
  readonly who: string;
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** A token's id for logs: the first 8 hex digits of its SHA-256 (the token itself is never logged). */
export function tokenId(token: string): string {
  return digest(token).toString("hex").slice(0, 8);
}

/** `Authorization: Bearer T` against the token, in constant time (digests of equal length are compared). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Whether a TCP request's `Host` header names this host: an IP address (what a rebinding attack cannot forge:
 * its page's host is a name), `localhost`, this machine's name, or the listener's host.
 */
export function hostAllowed(header: string | undefined, l: Extract<Listener, { kind: "tcp" }>): boolean {
  if (header === undefined || header === "") return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header.trim());
  if (!m) return false;
  const host = m[1]!.toLowerCase();
  if (m[2] !== undefined && Number(m[2]) !== l.port) return false;
  if (host.startsWith("[") || IPV4.test(host)) return true;
  const me = hostname().toLowerCase();
  return host === "localhost" || host === me || host === me.split(".")[0] || host === l.host.toLowerCase();
}

/** `application/json`, with or without parameters (`; charset=utf-8`). */
export function isJson(contentType: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType ?? "");
}

/** At most `calls` state-changing calls per client in any `windowMs`. */
export class RateLimiter {
  private readonly seen = new Map<string, number[]>();

  constructor(private readonly limit: { calls: number; windowMs: number } = RATE_LIMIT) {}

  /** Counts a call; false when the client is over its limit (the refused call counts too: a flood stays out). */
  allow(client: string, now: number): boolean {
    const from = now - this.limit.windowMs;
    const calls = (this.seen.get(client) ?? []).filter((t) => t > from);
    calls.push(now);
    this.seen.set(client, calls);
    if (this.seen.size > 10_000) this.prune(from);
    return calls.length <= this.limit.calls;
  }

  private prune(from: number): void {
    for (const [k, v] of this.seen) if (!v.some((t) => t > from)) this.seen.delete(k);
  }
}

/**
 * When the kernel's answer cannot be read (the service's sandbox hides other users' processes from it), what the
 * CLI says of itself (`X-Standby-Uid`, `X-Standby-User`), marked as claimed: the socket's permissions, not this,
 * are the authentication.
 */
export function claimed(peer: string, req: Pick<IncomingMessage, "headers">): string {
  if (!peer.startsWith("peer unknown")) return peer;
  const uid = req.headers["x-standby-uid"];
  if (typeof uid !== "string" || !/^\d{1,10}$/.test(uid)) return peer;
  const user = req.headers["x-standby-user"];
  const name = typeof user === "string" && /^[\w.-]{1,32}$/.test(user) ? ` (${user})` : "";
  return `uid ${uid}${name}, claimed`;
}

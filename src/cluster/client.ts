/**
 * The etcd client of fleet mode (issue 12): one `Etcd3` per daemon, built from the `cluster:` config with the
 * fault handling that measured best (shared/recipes/etcd.md):
 * - every unary call has a 1 s deadline per attempt (without one, a call routed to a hung member never returns);
 * - each member is guarded by a circuit breaker that opens after one failure and half-opens after 1 s (the
 *   default, 3 failures and 5 s open, kept calls failing 6 s after quorum returned);
 * - the global retry makes at most 2 attempts, each on another member: one member hung or dead costs no call,
 *   quorum lost fails every call within ~3 s.
 * Streams (watch, lease keepalive) get no default deadline: the lease sets its own per keepalive.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from "cockatiel";
import { Etcd3, type IOptions, isRecoverableError } from "etcd3";

/** The `cluster:` section of the config, as src/cluster code uses it (the zod schema produces this shape). */
export interface ClusterSpec {
  /** Client URLs of the etcd members (`http://host:2379`, `https://...`; a bare `host:port` gets the scheme). */
  etcd: string[];
  /** TLS from PEM files: the CA that signed the members' certificates, and a client certificate and key (mTLS). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** etcd's password authentication (the password already read from its file). */
  auth?: { user: string; password: string };
  /** The instance lease's TTL in ms (etcd grants whole seconds, at least 2). */
  lease_ttl: number;
  /** The key prefix of this fleet (`/standby`); no trailing slash needed. */
  prefix: string;
  /** This instance's name: unique in the fleet. */
  name: string;
}

/** The per-attempt deadline of a unary call. */
export const CALL_DEADLINE_MS = 1000;
/** How long a member's circuit stays open before one trial call. */
export const BREAKER_HALF_OPEN_MS = 1000;

/** The endpoints as etcd3 wants them: with a scheme (https when TLS is configured). */
export function normalizeHosts(spec: Pick<ClusterSpec, "etcd" | "tls">): string[] {
  const scheme = spec.tls ? "https" : "http";
  return spec.etcd.map((h) => (/^[a-z]+:\/\//i.test(h) ? h : `${scheme}://${h}`));
}

/** The prefix without trailing slashes (`/standby/` → `/standby`). */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, "");
}

/** The lease TTL etcd will grant for `lease_ttl` ms: whole seconds, at least 2 (the server's minimum). */
export function leaseTtlSeconds(leaseTtlMs: number): number {
  return Math.max(2, Math.ceil(leaseTtlMs / 1000));
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cluster.tls.${what}: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The Etcd3 options for a spec (exported for tests; the files are read here). */
export function clientOptions(spec: ClusterSpec): IOptions {
  const opts: IOptions = {
    hosts: normalizeHosts(spec),
    dialTimeout: CALL_DEADLINE_MS,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: BREAKER_HALF_OPEN_MS,
          breaker: new ConsecutiveBreaker(1),
        }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
    },
  };
  if (spec.tls) {
    const { ca, cert, key } = spec.tls;
    if ((cert === undefined) !== (key === undefined))
      throw new Error("cluster.tls: cert and key go together (a client certificate needs its key)");
    // grpc-js wants a root certificate; without `ca` the system's roots are used (an empty buffer is not allowed).
    const rootCertificate = ca !== undefined ? readPem(ca, "ca") : (undefined as unknown as Buffer);
    opts.credentials = { rootCertificate };
    if (cert !== undefined && key !== undefined) {
      opts.credentials.certChain = readPem(cert, "cert");
      opts.credentials.privateKey = readPem(key, "key");
    }
  }
  if (spec.auth) opts.auth = { username: spec.auth.user, password: spec.auth.password };
  return opts;
}

/** A client for the fleet's etcd. Close it with `client.close()` after revoking the instance lease. */
export function createClient(spec: ClusterSpec): Etcd3 {
  const opts = clientOptions(spec);
  if (spec.tls && normalizeHosts(spec).some((h) => isIP(hostOf(h)) !== 0)) quietIpServerName();
  return new Etcd3(opts);
}

/** The host of an endpoint URL, without IPv6 brackets ("" when it is not a URL: etcd3 says why later). */
function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return "";
  }
}

let ipServerNameQuiet = false;
/**
 * grpc-js sets the TLS ServerName (SNI) to the endpoint's host even when it is an IP address, for which Node prints
 * DEP0123 ("Setting the TLS ServerName to an IP address is not permitted by RFC 6066") once on stderr. etcd does
 * not use SNI and the certificate is still checked against the IP (its SAN), so the warning, which reads like a
 * fault in the journal, is dropped — that one warning only; every other goes through.
 */
function quietIpServerName(): void {
  if (ipServerNameQuiet) return;
  ipServerNameQuiet = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, type, code] = args;
    const c = typeof type === "object" && type !== null ? (type as { code?: unknown }).code : code;
    if (c === "DEP0123") return;
    emit(...args);
  }) as typeof process.emitWarning;
}

/**
 * TCP and HTTP probes with Node's own sockets, driven by one timer loop: an attempt starts every `interval`
 * (on a fixed grid, so results do not drift), each with its own timeout.
 */
import http from "node:http";
import https from "node:https";
import { connect, isIP } from "node:net";
import { performance } from "node:perf_hooks";

/** How one attempt ended: `error` is a short reason (`ECONNREFUSED`, `timeout`, `HTTP 500`). */
export interface AttemptResult {
  readonly ok: boolean;
  /** ms, only when ok */
  readonly rtt?: number;
  readonly error?: string;
}

export type Attempt = (signal: AbortSignal) => Promise<AttemptResult>;

/** `10.0.0.1:443`, `gw.example:80`, `[2001:db8::1]:443` → host and port; undefined if it is not that. */
export function parseHostPort(target: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

function reason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "timeout";
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.message : String(err);
}

/** Rounds to a microsecond: what a clock read through a syscall can honestly claim. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * A TCP connect to `host:port` from `localAddress` (when given). Answered when the handshake completes; the
 * rtt is the connect time, name resolution excluded. The socket is closed at once (no data is sent).
 */
export function tcpAttempt(host: string, port: number, localAddress: string | undefined): Attempt {
  const family = localAddress ? isIP(localAddress) : 0;
  return (signal) =>
    new Promise<AttemptResult>((resolve) => {
      let start = performance.now();
      const socket = connect({
        host,
        port,
        noDelay: true,
        ...(localAddress ? { localAddress } : {}),
        ...(family ? { family } : {}),
      });
      let done = false;
      const finish = (r: AttemptResult): void => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        socket.destroy();
        resolve(r);
      };
      const onAbort = (): void => finish({ ok: false, error: "timeout" });
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("lookup", () => {
        start = performance.now();
      });
      socket.once("connect", () => finish({ ok: true, rtt: round(performance.now() - start) }));
      // Kept for the socket's life: an error after the result must not go unhandled.
      socket.on("error", (err) => finish({ ok: false, error: reason(err, signal) }));
    });
}

/**
 * An HTTP(S) GET of `url` from `localAddress` (when given), on a fresh connection. Answered on a 2xx or 3xx
 * status (redirects are not followed); the rtt is the time until the response headers, name resolution,
 * connect and TLS included. The body is not read: the connection is closed once the headers are in.
 */
export function httpAttempt(url: URL, localAddress: string | undefined): Attempt {
  const mod = url.protocol === "https:" ? https : http;
  return (signal) =>
    new Promise<AttemptResult>((resolve) => {
      const start = performance.now();
      let done = false;
      const finish = (r: AttemptResult): void => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        req.destroy();
        resolve(r);
      };
      const onAbort = (): void => finish({ ok: false, error: "timeout" });
      const req = mod.request(
        url,
        {
          method: "GET",
          agent: false,
          signal,
          headers: { "user-agent": "standby-probe", connection: "close" },
          ...(localAddress ? { localAddress } : {}),
        },
        (res) => {
          const rtt = round(performance.now() - start);
          const status = res.statusCode ?? 0;
          res.on("error", () => {});
          res.destroy();
          if (status >= 200 && status < 400) finish({ ok: true, rtt });
          else finish({ ok: false, error: `HTTP ${status}` });
        },
      );
      req.on("error", (err) => finish({ ok: false, error: reason(err, signal) }));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      req.end();
    });
}

/**
 * Runs `attempt` every `interval` ms until `signal` aborts, each run aborted at `timeout`; `onResult` gets
 * each result as it comes. Attempts start on a fixed grid (missed ticks after a stall are skipped, not
 * caught up). With a timeout longer than the interval attempts overlap, at most ⌈timeout / interval⌉ + 1 at
 * a time; results are reported as they end.
 */
export function runTicker(
  interval: number,
  timeout: number,
  signal: AbortSignal,
  attempt: Attempt,
  onResult: (r: AttemptResult) => void,
): void {
  if (signal.aborted) return;
  const maxInflight = Math.ceil(timeout / interval) + 1;
  let inflight = 0;
  let next = performance.now();
  let timer: NodeJS.Timeout | undefined;

  const launch = (): void => {
    inflight++;
    const ac = new AbortController();
    const onStop = (): void => ac.abort();
    signal.addEventListener("abort", onStop, { once: true });
    const killer = setTimeout(() => ac.abort(), timeout);
    attempt(ac.signal)
      .catch((err: unknown): AttemptResult => ({ ok: false, error: reason(err, ac.signal) }))
      .then((r) => {
        inflight--;
        clearTimeout(killer);
        signal.removeEventListener("abort", onStop);
        if (!signal.aborted) onResult(r);
      });
  };

  const tick = (): void => {
    timer = undefined;
    if (signal.aborted) return;
    if (inflight < maxInflight) launch();
    const now = performance.now();
    next += interval;
    if (next <= now) next = now + interval - ((now - next) % interval);
    timer = setTimeout(tick, next - now);
  };

  signal.addEventListener(
    "abort",
    () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
    { once: true },
  );
  tick();
}

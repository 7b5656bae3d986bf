/**
 * One HTTP request with a timeout, for the `http` action and http notify hooks. Never throws.
 */
import { performance } from "node:perf_hooks";
import { redactUrl } from "../util/url.js";
import { formatDuration, OUTPUT_LIMIT, roundMs, truncateOutput } from "./spawn.js";

export interface HttpRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Milliseconds for the whole exchange, the response body included. */
  readonly timeout: number;
  readonly signal?: AbortSignal;
}

export interface HttpOutcome {
  readonly ok: boolean;
  readonly status?: number;
  /** `HTTP 200 OK` and the response body, truncated. */
  readonly output: string;
  readonly durationMs: number;
  /** Why it failed, without the `http: METHOD URL:` prefix. */
  readonly error?: string;
}

export { redactUrl };

const NET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "name resolution failed (temporary)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  EPIPE: "connection closed by the server",
  UND_ERR_SOCKET: "connection closed by the server",
  UND_ERR_HEADERS_OVERFLOW: "response headers too large",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate does not name this host",
};

/** A fetch error in words: `connection refused (ECONNREFUSED)`. */
export function describeFetchError(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.code;
  if (code) return `${NET_ERRORS[code] ?? e.cause?.message ?? e.message ?? "request failed"} (${code})`;
  return e?.cause?.message ?? e?.message ?? String(err);
}

/** Sends the request; a status outside 200–299 is a failure (redirects are not followed). */
export async function httpRequest(req: HttpRequest): Promise<HttpOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      controller.abort();
    },
    Math.max(1, req.timeout),
  );
  const onAbort = () => controller.abort();
  if (req.signal?.aborted) controller.abort();
  req.signal?.addEventListener("abort", onAbort, { once: true });
  const elapsed = () => roundMs(performance.now() - started);

  try {
    const method = req.method.toUpperCase();
    const res = await fetch(req.url, {
      method,
      headers: req.headers,
      ...(req.body !== undefined && method !== "GET" && method !== "HEAD" ? { body: req.body } : {}),
      redirect: "manual",
      signal: controller.signal,
    });
    const text = await res.text();
    const body = truncateOutput(text, OUTPUT_LIMIT - 64);
    const statusLine = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    const output = body ? `${statusLine}\n${body}` : statusLine;
    if (res.status >= 200 && res.status < 300) {
      return { ok: true, status: res.status, output, durationMs: elapsed() };
    }
    let error = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get("location");
      error += `: redirects are not followed${loc ? `; use the final URL (${redactUrl(loc)})` : ""}`;
    } else {
      const first = text.trim().split("\n")[0]?.trim() ?? "";
      if (first) error += `: ${first.length > 200 ? `${first.slice(0, 197)}...` : first}`;
    }
    return { ok: false, status: res.status, output, durationMs: elapsed(), error };
  } catch (err) {
    const error = timedOut
      ? `timed out after ${formatDuration(req.timeout)}`
      : controller.signal.aborted
        ? "cancelled"
        : describeFetchError(err);
    return { ok: false, output: "", durationMs: elapsed(), error };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
  }
}

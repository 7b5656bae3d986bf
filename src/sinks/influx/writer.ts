/**
 * `POST /write` of a batch of line protocol, with a timeout, and what InfluxDB's answer means for the batch:
 * written (204), refused for good (400: a type conflict, points beyond the retention policy, a parse error — the
 * valid points of the batch were written, InfluxDB 1.x writes them and refuses the rest, `partial write`), or not
 * written yet (refused connection, timeout, 5xx, 429, 401/403 — a wrong token is fixed by its operator and the
 * data waits —, and 404: the database is missing).
 */
import http from "node:http";
import https from "node:https";

export interface InfluxTarget {
  /** `http(s)://host:port[/prefix]`. */
  readonly url: string;
  readonly database: string;
  readonly retentionPolicy?: string;
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs: number;
}

export type WriteOutcome =
  | { readonly ok: true; readonly ms: number }
  | {
      readonly ok: false;
      /** Refused for good: do not send it again. */
      readonly permanent: boolean;
      readonly status?: number;
      readonly message: string;
      /** Points InfluxDB said it dropped (`dropped=N` of a partial write). */
      readonly dropped?: number;
      /** 404 "database not found": creating the database may help. */
      readonly missingDatabase?: boolean;
    };

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 4 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 4 }),
};

/** The Authorization header: Basic with a user; a password alone is a token (InfluxDB 2.x/3.x). */
export function authHeader(t: Pick<InfluxTarget, "username" | "password">): string | undefined {
  if (t.username !== undefined)
    return `Basic ${Buffer.from(`${t.username}:${t.password ?? ""}`).toString("base64")}`;
  if (t.password !== undefined && t.password !== "") return `Token ${t.password}`;
  return undefined;
}

/** Sends one batch; never rejects. `signal` aborts it (at stop). */
export function writeBatch(t: InfluxTarget, body: string, signal?: AbortSignal): Promise<WriteOutcome> {
  const url = new URL(`${t.url.replace(/\/+$/, "")}/write`);
  url.searchParams.set("db", t.database);
  if (t.retentionPolicy) url.searchParams.set("rp", t.retentionPolicy);
  url.searchParams.set("precision", "ns");
  const secure = url.protocol === "https:";
  const auth = authHeader(t);
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: WriteOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(o);
    };
    const req = (secure ? https : http).request(
      url,
      {
        method: "POST",
        agent: secure ? agents.https : agents.http,
        headers: {
          "Content-Type": "text/plain; charset=utf-8",
          "Content-Length": Buffer.byteLength(body),
          ...(auth ? { Authorization: auth } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < 64 * 1024) chunks.push(c);
          size += c.length;
        });
        res.on("error", (err) => done({ ok: false, permanent: false, message: err.message }));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return done({ ok: true, ms: performance.now() - t0 });
          done(classify(status, Buffer.concat(chunks).toString("utf8")));
        });
      },
    );
    const timer = setTimeout(() => {
      done({ ok: false, permanent: false, message: `no answer within ${t.timeoutMs} ms` });
      req.destroy();
    }, t.timeoutMs);
    const onAbort = () => {
      done({ ok: false, permanent: false, message: "aborted (stopping)" });
      req.destroy();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err: NodeJS.ErrnoException) =>
      done({ ok: false, permanent: false, message: err.code ? `${err.code}: ${err.message}` : err.message }),
    );
    req.end(body);
  });
}

/** What a non-2xx answer means. */
export function classify(status: number, body: string): Exclude<WriteOutcome, { ok: true }> {
  let message = body.trim();
  try {
    const j = JSON.parse(message) as { error?: unknown };
    if (typeof j.error === "string") message = j.error;
  } catch {
    // not JSON: the text itself
  }
  message = `HTTP ${status}: ${message.slice(0, 500) || "(no body)"}`;
  if (status === 400 || status === 413) {
    const m = /dropped=(\d+)/.exec(message);
    return { ok: false, permanent: true, status, message, ...(m ? { dropped: Number(m[1]) } : {}) };
  }
  return {
    ok: false,
    permanent: false,
    status,
    message,
    ...(status === 404 && /database not found/i.test(message) ? { missingDatabase: true } : {}),
  };
}

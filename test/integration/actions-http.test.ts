/**
 * http actions and notify hooks against a local node:http server: 2xx is success, anything else a failure,
 * a hanging server a timeout; secrets are sent but never shown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notify } from "../../src/actions/notify.js";
import { type ActionContext, runAction } from "../../src/actions/run.js";
import type { Secret } from "../../src/config/secret.js";
import type { StandbyEvent } from "../../src/groups/events.js";
import { switchContext } from "../helpers.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

const seen: Seen[] = [];
let server: Server;
let base: string;
const hanging: ServerResponse[] = [];

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
  switch (req.url) {
    case "/ok":
      res.writeHead(200, { "content-type": "text/plain" }).end("switched\n");
      return;
    case "/echo":
      res
        .writeHead(201, { "content-type": "application/json" })
        .end(JSON.stringify({ headers: req.headers, body }));
      return;
    case "/fail":
      res.writeHead(500, { "content-type": "text/plain" }).end("boom: router said no\nmore detail\n");
      return;
    case "/moved":
      res.writeHead(302, { location: "http://127.0.0.1:1/elsewhere" }).end();
      return;
    case "/hang":
      hanging.push(res);
      return;
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const ctx: ActionContext = switchContext;

function http(
  path: string,
  opts: { method?: string; body?: string; timeout?: number; headers?: Record<string, string | Secret> } = {},
) {
  return {
    http: {
      url: `${base}${path}`,
      method: opts.method ?? "POST",
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      headers: opts.headers ?? {},
      timeout: opts.timeout ?? 2000,
    },
  };
}

function last(): Seen {
  return seen[seen.length - 1]!;
}

describe("http action", () => {
  it("200 is success; the default body is {group, from, to, reason} as JSON", async () => {
    const r = await runAction(http("/ok"), ctx);
    expect(r).toMatchObject({ ok: true, kind: "http", status: 200, output: "HTTP 200 OK\nswitched\n" });
    expect(r.error).toBeUndefined();
    expect(last().method).toBe("POST");
    expect(last().headers["content-type"]).toBe("application/json");
    expect(JSON.parse(last().body)).toEqual({
      group: "uplink",
      from: "isp-a",
      to: "isp-b",
      reason: "gw-a-down firing",
    });
  });

  it("a shared group's switch (fleet mode): the fencing token as X-Standby-Fence and in the default body", async () => {
    const r = await runAction(http("/ok"), { ...ctx, fence: "123456789012345678" });
    expect(r.ok).toBe(true);
    expect(last().headers["x-standby-fence"]).toBe("123456789012345678");
    expect(JSON.parse(last().body)).toMatchObject({ fence: "123456789012345678" });
    await runAction(http("/ok"), ctx);
    expect(last().headers["x-standby-fence"]).toBeUndefined();
    expect(JSON.parse(last().body)).not.toHaveProperty("fence");
  });

  it("sends the spec's body, method and headers; secret headers are resolved and never shown", async () => {
    const resolveSecret = async (s: Secret) => (s.kind === "env" ? `token-of-${s.name}` : "?");
    const r = await runAction(
      http("/echo", {
        method: "PUT",
        body: "plain text",
        headers: { authorization: { kind: "env", name: "HOOK" }, "x-standby": "yes" },
      }),
      { ...ctx, resolveSecret },
    );
    expect(r.ok).toBe(true);
    expect(r.status).toBe(201);
    expect(last()).toMatchObject({ method: "PUT", body: "plain text" });
    expect(last().headers.authorization).toBe("token-of-HOOK");
    expect(last().headers["x-standby"]).toBe("yes");
    expect(last().headers["content-type"]).toMatch(/^text\/plain/);
    // The server echoed the token back: the result shows *** instead.
    expect(r.output).not.toContain("token-of-HOOK");
    expect(r.output).toContain("***");
  });

  it("a GET sends no body", async () => {
    const r = await runAction(http("/ok", { method: "GET" }), ctx);
    expect(r.ok).toBe(true);
    expect(last()).toMatchObject({ method: "GET", body: "" });
  });

  it("500 is a failure, with the status and the first line of the body", async () => {
    const r = await runAction(http("/fail"), ctx);
    expect(r.ok).toBe(false);
    expect(r.status).toBe(500);
    expect(r.error).toBe(`http: POST ${base}/fail: 500 Internal Server Error: boom: router said no`);
    expect(r.output).toContain("more detail");
  });

  it("a redirect is a failure that names the target", async () => {
    const r = await runAction(http("/moved"), ctx);
    expect(r.ok).toBe(false);
    expect(r.error).toBe(
      `http: POST ${base}/moved: 302 Found: redirects are not followed; use the final URL (http://127.0.0.1:1/elsewhere)`,
    );
  });

  it("a server that never answers times out", async () => {
    const started = Date.now();
    const r = await runAction(http("/hang", { timeout: 300 }), ctx);
    const took = Date.now() - started;
    expect(r.ok).toBe(false);
    expect(r.error).toBe(`http: POST ${base}/hang: timed out after 300ms`);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
  });

  it("a closed port is a clear failure", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await runAction(
      { http: { url: `http://127.0.0.1:${port}/x`, method: "POST", headers: {}, timeout: 2000 } },
      ctx,
    );
    expect(r.error).toBe(`http: POST http://127.0.0.1:${port}/x: connection refused (ECONNREFUSED)`);
  });
});

describe("notify", () => {
  const event: StandbyEvent = {
    ts: 1764100000123,
    kind: "failover",
    group: "uplink",
    from: "isp-a",
    to: "isp-b",
    rule: "gw-a-down",
    reason: "gw-a-down firing: max over 3 samples == 0 (value 0)",
  };

  it("posts the event to http hooks and gives exec hooks the event on stdin and STANDBY_* env", async () => {
    const results = await notify(
      [
        { http: { url: `${base}/ok`, method: "POST", headers: {}, timeout: 2000 } },
        {
          exec: {
            argv: ['cat; echo "kind=$STANDBY_EVENT group=$STANDBY_GROUP from=$STANDBY_FROM to=$STANDBY_TO"'],
            env: {},
            shell: true,
            timeout: 2000,
          },
        },
      ],
      event,
    );
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(JSON.parse(last().body)).toEqual(event);
    expect(last().headers["content-type"]).toBe("application/json");
    const [json, env] = results[1]!.output.trim().split("\n");
    expect(JSON.parse(json!)).toEqual(event);
    expect(env).toBe("kind=failover group=uplink from=isp-a to=isp-b");
  });

  it("runs hooks side by side: a hanging one fails alone and holds up no other", async () => {
    const started = Date.now();
    const results = await notify(
      [
        { http: { url: `${base}/hang`, method: "POST", headers: {}, timeout: 400 } },
        { exec: { argv: ["/bin/sleep", "0.3"], env: {}, shell: false, timeout: 2000 } },
        { exec: { argv: ["/nope"], env: {}, shell: false, timeout: 2000 } },
      ],
      event,
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(results.map((r) => [r.kind, r.ok])).toEqual([
      ["http", false],
      ["exec", true],
      ["exec", false],
    ]);
    expect(results[0]?.error).toMatch(/timed out after 400ms$/);
    expect(results[2]?.error).toBe("exec: /nope: no such file");
  });
});

/** The status page's hook (src/api/page.ts): its files, headers, HEAD, and an install without the files. */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PAGE_DIR, statusPage } from "../../../src/api/page.js";

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function serve(dir: string): Promise<string> {
  const page = statusPage(dir);
  server = createServer((req, res) => {
    if (!page(req, res, new URL(req.url ?? "/", "http://x").pathname)) {
      res.writeHead(404);
      res.end("not the page's");
    }
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

describe("statusPage", () => {
  it("serves index.html, its scripts and style with the security headers; nothing else", async () => {
    const base = await serve(PAGE_DIR);
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(r.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await r.text()).toContain('<script type="module" src="/app.js"></script>');
    // Every module app.js imports is served.
    for (const f of ["app.js", "controls.js", "dom.js"]) {
      const js = await (await fetch(`${base}/${f}`)).text();
      for (const m of js.matchAll(/from "\.\/([a-z]+\.js)"/g))
        expect((await fetch(`${base}/${m[1]}`)).status, `${f} imports ${m[1]}`).toBe(200);
    }
    expect((await fetch(`${base}/app.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await fetch(`${base}/favicon.ico`)).status).toBe(204);
    expect((await fetch(`${base}/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/page.ts`)).status).toBe(404);
    const head = await fetch(`${base}/app.js`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(100);
  });

  it("an install without the page's files answers 500 saying which file is missing", async () => {
    const base = await serve(join(PAGE_DIR, "nowhere"));
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(500);
    expect(await r.text()).toMatch(/the status page's index.html is missing from .*nowhere/);
  });
});

/**
 * The status web page of a real daemon process in headless Chromium (issue 11 part 4): served with its security
 * headers, it shows the group, its members and the rules behind their health; a failover the test causes shows
 * (the new active member and the event with its reason) within 2 s of the event; pin works with the token and is
 * refused without it; a dropped stream shows the "connection lost" banner. Needs Debian's `chromium`
 * (scripts/test-deps.sh) and the `playwright-core` devDependency (it drives the system's browser, downloads none).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, MAIN, ROOT } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { freeTcpPort } from "../peers/common.js";
import { browserMissing, CHROMIUM, playwright } from "./browser.js";
import { SVC_RULES, svcConfig } from "./svc-daemon.js";

const TOKEN = "a-token-of-32-characters-0123456";
const missing = browserMissing;
failInCiWhenMissing("the status web page", missing);

/** What the test reads of the browser's globals, inside page.evaluate (the project's tsconfig has no DOM lib). */
interface Win {
  seen: Record<string, number>;
  document: { body: unknown; cookie: string; querySelector(sel: string): unknown };
  sessionStorage: { getItem(key: string): string | null };
  MutationObserver: new (cb: () => void) => { observe(node: unknown, opts: object): void };
}

const config = (dir: string, port: number, apiPort: number) =>
  svcConfig(
    dir,
    port,
    `{socket: ${join(dir, "api.sock")}, listen: "127.0.0.1:${apiPort}", token: {file: ${join(dir, "api.token")}}}`,
  );

describe.skipIf(missing !== undefined)("the status web page in headless Chromium", () => {
  let dir: string;
  let server: Server;
  let daemon: ChildProcess;
  let stderr = "";
  let base: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    assertBuilt();
    if (!existsSync(join(ROOT, "dist/src/api/page/app.js")))
      throw new Error("dist/src/api/page/ is missing: run `npm run build` (it copies the page's files)");
    dir = mkdtempSync(join(tmpdir(), "sb-web-"));
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    writeFileSync(join(dir, "rules.yaml"), SVC_RULES);
    writeFileSync(join(dir, "api.token"), `${TOKEN}\n`, { mode: 0o600 });
    const apiPort = await freeTcpPort();
    base = `http://127.0.0.1:${apiPort}`;
    const file = join(dir, "standby.yaml");
    writeFileSync(file, config(dir, (server.address() as { port: number }).port, apiPort));
    daemon = spawn(process.execPath, [MAIN, "run", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const t0 = Date.now();
    while (!stderr.includes('"api listening"')) {
      if (Date.now() - t0 > 15_000) throw new Error(`daemon did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      // The browser logs each refused request (the 409 and the wrong token's 401, on purpose); anything else counts.
      if (m.type() === "error" && !/status of (401|409)/.test(m.text()))
        pageErrors.push(`console: ${m.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (daemon?.exitCode === null) daemon.kill("SIGKILL");
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async () =>
    (await (await fetch(`${base}/v1/status`)).json()) as {
      groups: { name: string; active: string; pin?: { member: string } }[];
    };

  it("serves the page and its files with the security headers, and no inline script or style", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/app.js", "text/javascript"],
      ["/controls.js", "text/javascript"],
      ["/dom.js", "text/javascript"],
      ["/app.css", "text/css"],
    ] as const) {
      const r = await fetch(base + path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get("content-type")).toContain(type);
      expect(r.headers.get("content-security-policy")).toBe(
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'",
      );
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      const text = await r.text();
      if (path === "/") {
        expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        expect(text).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
        expect(text).not.toMatch(/https?:\/\//);
      }
    }
    expect((await fetch(`${base}/nothing.js`)).status).toBe(404);
  });

  it("shows the group, its members with priority, health and reason, the active one and the rules behind it", async () => {
    await page.goto(`${base}/`);
    const svc = page.locator('article[data-group="svc"]');
    await svc.locator('[data-active="primary"]').waitFor({ timeout: 15_000 });
    const primary = svc.locator('tr[data-member="primary"]');
    await expect.poll(() => primary.locator(".health").textContent(), { timeout: 10_000 }).toBe("healthy");
    expect(await primary.locator("td").nth(1).textContent()).toBe("100");
    expect(await primary.getAttribute("class")).toContain("active");
    expect(await primary.locator(".reason").textContent()).toBe("all health rules ok");
    expect(await primary.locator('[data-rule="svc-down"]').textContent()).toMatch(/^svc-down.* ok/);
    const backup = svc.locator('tr[data-member="backup"]');
    expect(await backup.locator("td").nth(1).textContent()).toBe("50");
    expect(await backup.textContent()).toContain("no health rules");
    expect(await page.locator("#reload").textContent()).toContain("none since the start");
    expect(await page.locator("#sinks").textContent()).toContain("no influx sink");
    expect(await page.locator("#banner").isHidden()).toBe(true);
  }, 30_000);

  it("shows a failover the test causes — the new active member and the event with its reason — within 2 s", async () => {
    // The browser notes (its wall clock, the daemon's) when each appears in the DOM.
    await page.evaluate(() => {
      const w = globalThis as unknown as Win;
      w.seen = {};
      const check = () => {
        if (!w.seen.event && w.document.querySelector('#events li[data-kind="failover"]'))
          w.seen.event = Date.now();
        if (!w.seen.active && w.document.querySelector('article[data-group="svc"] [data-active="backup"]'))
          w.seen.active = Date.now();
      };
      new w.MutationObserver(check).observe(w.document.body, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    });
    await new Promise<void>((r) => server.close(() => r())); // the probe's target stops answering
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as Win).seen;
        return s.event !== undefined && s.active !== undefined;
      },
      undefined,
      { timeout: 20_000 },
    );
    const seen = await page.evaluate(() => (globalThis as unknown as Win).seen);
    const li = page.locator('#events li[data-kind="failover"]').first();
    const ts = Number(await li.getAttribute("data-ts"));
    const latency = { event: seen.event! - ts, active: seen.active! - ts };
    console.log(
      `web page: failover event → DOM ${latency.event} ms, active member → DOM ${latency.active} ms`,
    );
    expect(Math.max(latency.event, latency.active)).toBeLessThan(2000);
    expect(await li.locator(".subject").textContent()).toBe("svc: primary → backup");
    expect(await li.locator(".reason").textContent()).toMatch(/svc-down/);
    const primary = page.locator('article[data-group="svc"] tr[data-member="primary"]');
    await expect.poll(() => primary.locator(".health").textContent(), { timeout: 5000 }).toBe("unhealthy");
    expect(await primary.locator('[data-rule="svc-down"]').textContent()).toContain("firing");
  }, 40_000);

  it("pin with the token: a refusal (409) shown; done, the event says by token and the reason; the token is kept", async () => {
    const svc = page.locator('article[data-group="svc"]');
    // The unhealthy primary: the token is asked for, then the group refuses (409) and the page says why.
    await svc.locator('select[name="member"]').selectOption("primary");
    await svc.locator('button[data-cmd="pin"]').click();
    await page.locator("#token-dialog[open]").waitFor({ timeout: 5000 });
    await page.locator("#token-input").fill(TOKEN);
    await page.locator("#token-ok").click();
    await expect
      .poll(() => svc.locator(".result").textContent(), { timeout: 10_000 })
      .toBe("refused (409): primary is unhealthy; refusing to pin it (use force)");
    expect((await status()).groups[0]!.pin).toBeUndefined();
    // The healthy backup, with a reason: no second question for the token.
    await svc.locator('select[name="member"]').selectOption("backup");
    await svc.locator('input[name="reason"]').fill("web test pin");
    await svc.locator('button[data-cmd="pin"]').click();
    await expect
      .poll(() => svc.locator(".result").textContent(), { timeout: 10_000 })
      .toMatch(/pin: done — pinned/);
    const ev = page.locator('#events li[data-kind="pinned"]').first();
    await ev.waitFor({ timeout: 5000 });
    expect(await ev.locator(".by").textContent()).toMatch(/^by token \(token [0-9a-f]{8}\): “web test pin”$/);
    await svc.locator('[data-flag="pinned"]').waitFor({ timeout: 5000 });
    expect((await status()).groups[0]!.pin?.member).toBe("backup");
    // The token stays for this tab only: in sessionStorage, in no cookie and no URL.
    expect(
      await page.evaluate(() => {
        const w = globalThis as unknown as Win;
        return [w.sessionStorage.getItem("standby.token"), w.document.cookie];
      }),
    ).toEqual([TOKEN, ""]);
    expect(page.url()).toBe(`${base}/`);
    await svc.locator('button[data-cmd="unpin"]').click();
    await expect.poll(() => svc.locator(".result").textContent(), { timeout: 10_000 }).toMatch(/unpin: done/);
    expect(await page.locator("#token-dialog").getAttribute("open")).toBeNull();
    expect((await status()).groups[0]!.pin).toBeUndefined();
  }, 40_000);

  it("pin without the token is refused: cancel sends nothing; a wrong token is a 401, forgotten, asked again", async () => {
    const svc = page.locator('article[data-group="svc"]');
    const pinnedBefore = await page.locator('#events li[data-kind="pinned"]').count();
    await page.locator("#forget-token").click();
    expect(
      await page.evaluate(() => (globalThis as unknown as Win).sessionStorage.getItem("standby.token")),
    ).toBeNull();
    await svc.locator('button[data-cmd="pin"]').click();
    await page.locator("#token-dialog[open]").waitFor({ timeout: 5000 });
    await page.locator("#token-cancel").click();
    await expect
      .poll(() => svc.locator(".result").textContent(), { timeout: 5000 })
      .toBe("pin not sent: no token given");
    await svc.locator('button[data-cmd="pin"]').click();
    await page.locator("#token-dialog[open]").waitFor({ timeout: 5000 });
    await page.locator("#token-input").fill("a-wrong-token-of-32-characters-x");
    await page.locator("#token-ok").click();
    // The 401 forgets the token and asks again, saying why.
    await expect
      .poll(() => page.locator("#token-why").textContent(), { timeout: 5000 })
      .toMatch(/refused \(401\)/);
    expect(await page.locator("#token-dialog").getAttribute("open")).not.toBeNull();
    await page.locator("#token-cancel").click();
    await expect
      .poll(() => svc.locator(".result").textContent(), { timeout: 5000 })
      .toMatch(/^refused \(401\): missing or wrong token.*pin not sent: no token given$/);
    expect(await svc.locator(".result").getAttribute("class")).toContain("error");
    expect(
      await page.evaluate(() => (globalThis as unknown as Win).sessionStorage.getItem("standby.token")),
    ).toBeNull();
    expect((await status()).groups[0]!.pin).toBeUndefined();
    await new Promise((r) => setTimeout(r, 500));
    expect(await page.locator('#events li[data-kind="pinned"]').count()).toBe(pinnedBefore);
    expect(stderr).not.toMatch(/a-wrong-token/);
  }, 30_000);

  it("no script or style was blocked and nothing threw; a dropped stream shows the connection-lost banner", async () => {
    expect(pageErrors).toEqual([]);
    daemon.kill("SIGTERM");
    await page.locator("#banner:not([hidden])").waitFor({ timeout: 10_000 });
    expect(await page.locator("#banner").textContent()).toMatch(/connection lost/);
  }, 20_000);
});

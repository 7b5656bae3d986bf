import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPage } from "../../src/api/page.js";
import { type ApiServer, startApi } from "../../src/api/server.js";
import type { DaemonStatus } from "../../src/daemon/status.js";
import { quietLog } from "../helpers.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { browserMissing, CHROMIUM, playwright } from "./browser.js";

const missing = browserMissing;
failInCiWhenMissing("the status web page (fleet)", missing);

const now = Date.now();
const member = (name: string, priority: number, health: string, reason: string) => ({
  name,
  priority,
  health,
  reason,
  rules: [{ rule: `${name}-down` }],
});
const status: DaemonStatus = {
  host: "d2",
  started_at: now - 60_000,
  now,
  dry_run: false,
  config: "/etc/standby/standby.yaml",
  warnings: [],
  groups: [
    {
      name: "vip",
      active: "r1",
      since: now - 30_000,
      failback: "manual",
      hold_ms: 30_000,
      scope: "shared",
      fleet: {
        leader: "d1",
        fence: "4711",
        role: "follower",
        quorum: "majority",
        votes: [
          {
            member: "r1",
            verdict: "degraded",
            reason: "1 of 3 observers see r1 unhealthy (majority needs 2): kept",
            tally: { healthy: 2, degraded: 0, unhealthy: 1, unknown: 0 },
            views: [],
          },
          { member: "r2", verdict: "healthy", reason: "3 of 3 observers: r2 healthy", views: [] },
        ],
      },
      members: [
        member("r1", 100, "degraded", "1 of 3 observers see r1 unhealthy (majority needs 2): kept"),
        member("r2", 50, "healthy", "3 of 3 observers: r2 healthy"),
      ],
    },
  ],
  rules: [],
  collectors: [],
  events: [],
  sinks: {},
  process: {
    pid: 1,
    rss_bytes: 0,
    heap_used_bytes: 0,
    heap_total_bytes: 0,
    external_bytes: 0,
    cpu_user_ms: 0,
    cpu_system_ms: 0,
  },
};

describe.skipIf(missing !== undefined)("status page: a shared group", () => {
  let api: ApiServer;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    api = await startApi(
      {
        status: () => status,
        command: async () => ({ ok: false, error: "not here", events: [] }),
        eventsSince: async () => [],
        subscribe: () => () => {},
      },
      { listen: "127.0.0.1:0", page: statusPage(), log: quietLog, socket: "" },
    );
    browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  }, 30_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await api?.close();
  });

  it("shows the leader, the token, this instance's role and the votes; no script error", async () => {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${api.tcpPort}/`);
    const line = page.locator('[data-fleet-role="follower"]');
    await expect.poll(() => line.count(), { timeout: 10_000 }).toBe(1);
    const text = await line.textContent();
    expect(text).toContain(
      "shared: leader d1 (fencing token 4711); this instance: follower; quorum majority",
    );
    expect(text).toContain("votes: r1 degraded (1 of 3 observers see r1 unhealthy (majority needs 2): kept)");
    expect(text).toContain("r2 healthy (3 of 3 observers: r2 healthy)");
    expect(errors).toEqual([]);
  });
});

import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ActionContext,
  actionKind,
  describeAction,
  runAction,
  runActions,
} from "../../../src/actions/run.js";
import type { ActionSpec } from "../../../src/actions/types.js";
import { switchContext } from "../../helpers.js";

const ctx: ActionContext = switchContext;
const dryCtx: ActionContext = { ...ctx, dryRun: true };
const T = 5000;

describe("dry run", () => {
  it("runs nothing and returns the command it would run", async () => {
    const r = await runAction({ route: { to: "default", via: "10.200.2.1", timeout: T } }, dryCtx);
    expect(r).toEqual({
      ok: true,
      kind: "route",
      argv: ["ip", "route", "replace", "default", "via", "10.200.2.1"],
      output: "would run: ip route replace default via 10.200.2.1",
      durationMs: 0,
      dryRun: true,
    });
  });

  it("does not look at the program of an exec action", async () => {
    const r = await runAction(
      { exec: { argv: ["/no/such/program", "x"], env: {}, shell: false, timeout: T } },
      dryCtx,
    );
    expect(r.ok).toBe(true);
    expect(r.argv).toEqual(["/no/such/program", "x"]);
    expect(r.dryRun).toBe(true);
  });

  it("shows the namespace prefix, the announcement of an address, the request and the sysfs write", async () => {
    const a = await runAction(
      { address: { address: "10.0.0.5/24", dev: "eth0", state: "present", timeout: T } },
      { ...dryCtx, netns: "sb-x" },
    );
    expect(a.argv).toEqual([
      "ip",
      "netns",
      "exec",
      "sb-x",
      "ip",
      "addr",
      "replace",
      "10.0.0.5/24",
      "dev",
      "eth0",
    ]);
    expect(a.output).toMatch(/gratuitous ARP/);

    const h = await runAction(
      {
        http: {
          url: "http://u:pw@127.0.0.1:9/hook",
          method: "POST",
          headers: { authorization: { kind: "env", name: "TOKEN" }, "x-a": "1" },
          timeout: T,
        },
      },
      dryCtx,
    );
    expect(h.ok).toBe(true);
    expect(h.output).toContain("would send: POST http://u:***@127.0.0.1:9/hook");
    expect(h.output).toContain("authorization: <secret>");
    expect(h.output).toContain("content-type: application/json");
    expect(h.output).toContain('{"group":"uplink","from":"isp-a","to":"isp-b","reason":"gw-a-down firing"}');
    expect(h.output).not.toContain("pw");

    const b = await runAction({ bond: { dev: "bond0", active_slave: "eth1", timeout: T } }, dryCtx);
    expect(b.output).toBe("would write eth1 to /sys/class/net/bond0/bonding/active_slave");
  });
});

describe("runActions", () => {
  it("runs in order and stops at the first failure", async () => {
    const list: ActionSpec[] = [
      { route: { to: "default", via: "10.0.0.1", timeout: T } },
      { bond: { dev: "bond0", active_slave: "eth1/../x", timeout: T } }, // refused: not an interface name
      { route: { to: "default", via: "10.0.0.2", timeout: T } },
    ];
    const results = await runActions(list, dryCtx);
    expect(results.map((r) => [r.kind, r.ok])).toEqual([
      ["route", true],
      ["bond", false],
    ]);
  });

  it("returns an empty list for no actions", async () => {
    expect(await runActions([], ctx)).toEqual([]);
  });
});

describe("describeAction", () => {
  it("says what an action does in one line", () => {
    expect(describeAction({ route: { to: "default", via: "10.0.0.1", metric: 5, timeout: T } })).toBe(
      "route default via 10.0.0.1 metric 5",
    );
    expect(describeAction({ exec: { argv: ["/bin/page", "a b"], env: {}, shell: false, timeout: T } })).toBe(
      "exec /bin/page 'a b'",
    );
    expect(actionKind({ bond: { dev: "bond0", active_slave: "eth1", timeout: T } })).toBe("bond");
  });
});

describe("bond", () => {
  let sys: string;
  beforeAll(async () => {
    sys = await mkdtemp(join(tmpdir(), "sb-ac-sys-"));
    await mkdir(join(sys, "class/net/bond0/bonding"), { recursive: true });
    await writeFile(join(sys, "class/net/bond0/bonding/active_slave"), "eth0\n");
  });
  afterAll(async () => {
    await rm(sys, { recursive: true, force: true });
  });

  it("writes active_slave through sysfs", async () => {
    const r = await runAction(
      { bond: { dev: "bond0", active_slave: "eth1", timeout: T } },
      { ...ctx, sysRoot: sys },
    );
    expect(r).toMatchObject({ ok: true, kind: "bond", output: "active_slave: eth1" });
    expect(await readFile(join(sys, "class/net/bond0/bonding/active_slave"), "utf8")).toBe("eth1");
  });

  it("fails clearly for a device that is not a bond, and refuses what is not an interface name", async () => {
    const r = await runAction(
      { bond: { dev: "eth9", active_slave: "eth1", timeout: T } },
      { ...ctx, sysRoot: sys },
    );
    expect(r.ok).toBe(false);
    expect(r.error).toBe(
      `bond: ${sys}/class/net/eth9/bonding/active_slave: no such file (is eth9 a bonding interface?)`,
    );
    const bad = await runAction(
      { bond: { dev: "../../x", active_slave: "eth1", timeout: T } },
      { ...ctx, sysRoot: sys },
    );
    expect(bad.error).toBe('bond: "../../x" is not an interface name');
  });
});

describe("failures before anything runs", () => {
  it("a secret header without a resolver fails, naming the header but not the secret", async () => {
    const r = await runAction(
      {
        http: {
          url: "http://127.0.0.1:9/hook",
          method: "POST",
          headers: { authorization: { kind: "env", name: "HOOK_TOKEN" } },
          timeout: T,
        },
      },
      ctx,
    );
    expect(r.ok).toBe(false);
    expect(r.error).toBe(
      "http: POST http://127.0.0.1:9/hook: header authorization is a secret ({env: HOOK_TOKEN}) and no secret resolver was given",
    );
  });

  it("a resolver that fails makes the action fail", async () => {
    const r = await runAction(
      {
        http: {
          url: "http://127.0.0.1:9/hook",
          method: "POST",
          headers: { authorization: { kind: "file", path: "/nope/token" } },
          timeout: T,
        },
      },
      { ...ctx, resolveSecret: () => Promise.reject(new Error("ENOENT: no such file")) },
    );
    expect(r.error).toMatch(/header authorization: cannot read secret \(\{file: \/nope\/token\}\): ENOENT/);
  });

  it("an aborted signal runs nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await runAction(
      { exec: { argv: ["/bin/true"], env: {}, shell: false, timeout: T } },
      { ...ctx, signal: ac.signal },
    );
    expect(r).toMatchObject({ ok: false, error: "exec: cancelled before it started" });
  });
});

/**
 * The shipped default config on a host whose network comes up after standby does: the probe's `target: gateway`
 * cannot be resolved at start (no default route yet). It used to be left out for good — its rules said "no data
 * yet" for ever, with one log line at start, and a reload was refused with the same error. Now it is a
 * `collector` event ("not started … tried again every 5 s"), tried again, accepted by a reload, and started (with
 * an `ok` event) as soon as the default route exists: the gateway's rules then turn ok on real probes. And when the
 * default route later moves to another gateway, the probe follows it (resolved again every 15 s); the old
 * gateway's rule instances are removed at once rather than left unknown for forget_after.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EventOf } from "../../src/groups/events.js";
import { assertBuilt, ROOT, type RunningDaemon, startDaemon, tempDir } from "./daemon-harness.js";
import { waitFor } from "./testbed.js";
import { describeWithTestbed } from "./use-testbed.js";

describeWithTestbed("the default gateway appears after standby started", { tag: "gwl", index: 33 }, (bed) => {
  let d: RunningDaemon | undefined;
  let config = "";

  beforeAll(async () => {
    assertBuilt();
    await bed.exec("host", ["ip", "route", "del", "default"]);
    expect((await bed.defaultRoute()).via).toBeNull();
    const dir = tempDir("sb-e2e-gwl-");
    // etc/default.yaml as shipped, but for its paths and the TCP listener (the socket is enough here).
    const text = readFileSync(join(ROOT, "etc/default.yaml"), "utf8")
      .replace(/^state_dir: .*$/m, "state_dir: state")
      .replaceAll("../rules/", `${ROOT}/rules/`)
      .replace(/^api: .*$/m, "api: {socket: state/api.sock}");
    expect(text).toContain("target: gateway");
    config = join(dir, "standby.yaml");
    writeFileSync(config, text);
    d = startDaemon(bed, config);
    await d.started();
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
  }, 30_000);

  const collectorEvents = () =>
    d!.events().filter((e): e is EventOf<"collector"> => e.kind === "collector" && e.collector === "gateway");

  it("no default route: an event says the probe is not started; retries say nothing more; a reload is accepted", async () => {
    await waitFor(() => collectorEvents().length > 0, {
      timeout: 10_000,
      message: "the gateway's collector event",
    });
    expect(collectorEvents()).toEqual([
      expect.objectContaining({
        state: "failing",
        reason:
          "gateway: not started: cannot find the default gateway to probe: no default route with a gateway (tried again every 5 s)",
      }),
    ]);
    // A reload with the network still down: accepted (it used to be refused with the same error).
    const reloaded = () => d!.stderr.filter((l) => l.includes('"configuration reloaded"')).length;
    d!.child.kill("SIGHUP");
    await waitFor(() => reloaded() === 1, { timeout: 10_000, message: "the reload" });
    expect(d!.stderr.join("\n")).not.toMatch(/reload refused|cannot reload/i);
    // More than one retry later: still the one event, and one warning in the log (not one every 5 s).
    await new Promise((r) => setTimeout(r, 6_000));
    expect(collectorEvents()).toHaveLength(1);
    expect(d!.stderr.filter((l) => l.includes("collector not started"))).toHaveLength(1);
    const rules = d!.events().filter((e) => e.kind === "rule" && e.rule === "gateway-down");
    expect(rules).toEqual([]);
  }, 30_000);

  it("the default route appears: the probe starts within a retry, and its rule turns ok on real answers", async () => {
    const t0 = Date.now();
    await bed.setDefaultRoute("r1");
    await waitFor(() => collectorEvents().length === 2, { timeout: 10_000, message: "the gateway started" });
    const took = Date.now() - t0;
    console.log(`gateway probe started ${took} ms after the default route was added`);
    expect(collectorEvents()[1]).toMatchObject({
      state: "ok",
      reason: "gateway: started: resolved on this host now",
    });
    expect(took).toBeLessThan(5_000 + 3_000);
    await waitFor(
      () => d!.events().some((e) => e.kind === "rule" && e.rule === "gateway-down" && e.state === "ok"),
      { timeout: 10_000, message: "gateway-down ok" },
    );
    const down = d!
      .events()
      .find((e): e is EventOf<"rule"> => e.kind === "rule" && e.rule === "gateway-down");
    expect(down?.labels).toMatchObject({ collector: "gateway", target: bed.addr.gateway.r1 });
  }, 30_000);

  it("the default route moves to another gateway: the probe follows it within 15 s; the old gateway dying then is no alarm", async () => {
    const [r1, r2] = [bed.addr.gateway.r1, bed.addr.gateway.r2];
    const t0 = Date.now();
    await bed.setDefaultRoute("r2");
    await waitFor(() => collectorEvents().length === 3, {
      timeout: 20_000,
      message: "the gateway resolved again",
    });
    console.log(`gateway probe followed the default route ${Date.now() - t0} ms after it moved`);
    expect(collectorEvents()[2]).toMatchObject({
      state: "ok",
      reason: `gateway: resolved again on this host: probe.target: ${r1} → ${r2}`,
    });
    // The old target's instances went at once (not after forget_after), with the reason; the new one turns ok.
    const rules = () =>
      d!.events().filter((e): e is EventOf<"rule"> => e.kind === "rule" && e.labels.collector === "gateway");
    const forgotten = rules().filter((e) => e.state === "forgotten");
    expect(forgotten.map((e) => [e.rule, e.labels.target])).toEqual(
      expect.arrayContaining([
        ["gateway-down", r1],
        ["gateway-slow", r1],
      ]),
    );
    expect(forgotten[0]!.reason).toContain(`collector gateway resolved again (probe.target: ${r1} → ${r2})`);
    await waitFor(
      () => rules().some((e) => e.rule === "gateway-down" && e.labels.target === r2 && e.state === "ok"),
      {
        timeout: 10_000,
        message: `gateway-down ok on ${r2}`,
      },
    );
    // The old gateway dies: nobody probes it any more, so nothing fires.
    const before = d!.events().length;
    await bed.routerDead("r1");
    await new Promise((r) => setTimeout(r, 4_000));
    const after = d!.events().slice(before);
    expect(after.filter((e) => e.kind === "rule" && e.state === "firing")).toEqual([]);
    expect(after.filter((e) => e.kind === "health" && e.group === "uplink")).toEqual([]);
  }, 40_000);
});

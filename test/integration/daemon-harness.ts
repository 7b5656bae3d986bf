/** Shared by the in-process daemon tests: a config in a temp dir, fake probes, a running daemon. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Collector } from "../../src/collector.js";
import { loadConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { Daemon, type DaemonOptions } from "../../src/daemon/daemon.js";
import type { Sample } from "../../src/engine/types.js";
import type { StandbyEvent } from "../../src/groups/events.js";
import { quietLog } from "../helpers.js";

/** A stream collector the test drives by hand: `send(value)` emits one probe.success sample for gw-X. */
export function fakeProbe(name: string, now: () => number) {
  let emit: ((s: Sample[]) => void) | undefined;
  const labels = Object.freeze({ collector: name });
  const signals: AbortSignal[] = [];
  const c: Collector = {
    kind: "stream",
    name,
    start(e, signal) {
      emit = e;
      signals.push(signal);
    },
  };
  return {
    c,
    signals,
    send: (value: number, ts = Math.round(now())) => emit?.([{ metric: "probe.success", labels, value, ts }]),
  };
}

export interface SetupOptions {
  hold?: string;
  minHealthy?: number;
  staleAfter?: string;
  /** Shell run by each member's activation (gets $STANDBY_FROM, $STANDBY_TO); default appends FROM>TO. */
  activate?: string;
  /** Shell run by each member's deactivation. */
  deactivate?: string;
  extraGroup?: string;
  stateDir?: string;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "sb-daemon-"));
}

export async function setup(dir: string, o: SetupOptions = {}): Promise<Config> {
  const stale = o.staleAfter ? `, stale_after: ${o.staleAfter}` : "";
  writeFileSync(
    join(dir, "rules.yaml"),
    `rules:
  - {name: gw-a-down, metric: probe.success, labels: {collector: gw-a}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"${stale}}
  - {name: gw-b-down, metric: probe.success, labels: {collector: gw-b}, problem: "max over 3 samples == 0", recovery: "min over 3 samples == 1"${stale}}
`,
  );
  const act = o.activate ?? `echo "$STANDBY_FROM>$STANDBY_TO" >> ${join(dir, "switches")}`;
  const deact = o.deactivate
    ? `\n        deactivate: [{exec: {argv: [/bin/sh, -c, '${o.deactivate}']}}]`
    : "";
  const text = `state_dir: ${o.stateDir ?? join(dir, "state")}
rules: [rules.yaml]
groups:
  - name: uplink
    members:
      - name: isp-a
        priority: 100
        health: [gw-a-down]
        activate: [{exec: {argv: [/bin/sh, -c, '${act}']}}]${deact}
      - name: isp-b
        priority: 50
        health: [gw-b-down]
        activate: [{exec: {argv: [/bin/sh, -c, '${act}']}}]${deact}
    failback: {mode: auto, hold: ${o.hold ?? "1s"}}
${o.minHealthy !== undefined ? `    min_healthy: ${o.minHealthy}\n` : ""}${o.extraGroup ?? ""}`;
  const r = await loadConfigText(text, join(dir, "standby.yaml"), { asRoot: false });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

export const running: Daemon[] = [];

export async function start(config: Config, opts: Partial<DaemonOptions> = {}) {
  // Samples are stamped as the daemon's collectors stamp them: with the clock it gives them (ctx.now).
  let daemon: { clock?: { mono(): number } } | undefined;
  const now = () => daemon?.clock?.mono() ?? Date.now();
  const a = fakeProbe("gw-a", now);
  const b = fakeProbe("gw-b", now);
  const events: StandbyEvent[] = [];
  const d = new Daemon({
    config,
    log: quietLog,
    collectors: [a.c, b.c],
    onEvent: (e) => events.push(e),
    reassertEvery: 0,
    ...opts,
  });
  daemon = d;
  await d.start();
  running.push(d);
  return { d, a, b, events };
}

export async function stopAll(): Promise<void> {
  for (const d of running.splice(0)) await d.stop();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const until = async (pred: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await sleep(10);
  }
};

export const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : [];

export const switchesFile = (dir: string) => lines(join(dir, "switches"));

export function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, "utf8"));
}

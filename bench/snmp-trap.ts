/**
 * Trap → switch latency with the real daemon (`node dist/src/cli/main.js run --config X`, a process of its own):
 * an `snmp` block polling a private snmpd every 30 s (profile `if`), an `snmp_trap` receiver, and a group of two
 * uplinks judged on `snmp.if.oper_status` of ifIndex 1 and 2 (as test/integration/snmp-trap-failover.test.ts),
 * whose `activate` is an exec appending `date +%s%N` to a file. Each trial flips ifIndex 1 down on the agent (so
 * a poll would agree) and sends a linkDown v2c trap from the bench (net-snmp's `session.trap`, the send time taken
 * just before), then waits for the failover; then linkUp and the failback after `hold: 1s`. Measured: trap sent →
 * the failover event's `ts` (events.jsonl, wall ms), → the activate action done (its timestamp, ns), and the
 * action event's own duration.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventOf, StandbyEvent } from "../src/groups/events.js";
import { snmp } from "../src/snmp/session.js";
import { COMMUNITY, freeUdpPort, type Snmpd } from "../test/peers/snmpd.js";
import { BenchDaemon, type Dist, dist, fmtDist } from "./util.js";

const LINK_DOWN = "1.3.6.1.6.3.1.1.5.3";
const LINK_UP = "1.3.6.1.6.3.1.1.5.4";

export interface TrapResult {
  readonly trials: number;
  readonly completed: number;
  /** trap sent → failover event (ms, wall clock; the event's ts has ms resolution) */
  readonly toFailoverEventMs: Dist;
  /** trap sent → the activate exec wrote its timestamp (ms) */
  readonly toActionDoneMs: Dist;
  /** the activate action event's duration_ms */
  readonly actionDurationMs: Dist;
  /** linkUp trap sent → failback event, ms (hold 1 s) */
  readonly toFailbackEventMs: Dist;
  readonly failures: string[];
}

async function until<T>(f: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function sendTrap(s: snmp.Session, oid: string, index: number, oper: number): Promise<number> {
  const vbs = [
    { oid: `1.3.6.1.2.1.2.2.1.1.${index}`, type: snmp.ObjectType.Integer, value: index },
    { oid: `1.3.6.1.2.1.2.2.1.8.${index}`, type: snmp.ObjectType.Integer, value: oper },
  ];
  return new Promise((res, rej) => {
    const sent = Date.now(); // the clock of the events' ts (wall ms)
    s.trap(oid, vbs, (err) => (err ? rej(err) : res(sent)));
  });
}

export async function benchTrap(agent: Snmpd, trials: number, log: (l: string) => void): Promise<TrapResult> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-snmptrap-"));
  const actions = join(dir, "actions.log");
  writeFileSync(actions, "");
  let d: BenchDaemon | undefined;
  let sender: snmp.Session | undefined;
  const failures: string[] = [];
  const toEvent: number[] = [];
  const toAction: number[] = [];
  const actionDur: number[] = [];
  const toBack: number[] = [];
  try {
    const trapPort = await freeUdpPort();
    const exec = (m: string) => `[{exec: {argv: [sh, -c, "echo ${m} $(date +%s%N) >> ${actions}"]}}]`;
    writeFileSync(
      join(dir, "rules.yaml"),
      `rules:
  - {name: isp-a-down, metric: snmp.if.oper_status, labels: {collector: router, ifIndex: "1"}, problem: "== failed", stale_after: 2m, flap: false}
  - {name: isp-b-down, metric: snmp.if.oper_status, labels: {collector: router, ifIndex: "2"}, problem: "== failed", stale_after: 2m, flap: false}
`,
    );
    const file = join(dir, "standby.yaml");
    writeFileSync(
      file,
      `host: bench-snmptrap
state_dir: ${join(dir, "state")}
api: {socket: ""}
rules: [${join(dir, "rules.yaml")}]
collectors:
  - name: router
    type: snmp
    interval: 30s
    target: {host: 127.0.0.1, port: ${agent.port}, community: ${COMMUNITY}, timeout: 300ms, retries: 0}
    profiles: [if]
  - {name: traps, type: snmp_trap, listen: "udp:127.0.0.1:${trapPort}", community: ${COMMUNITY}}
groups:
  - name: uplink
    members:
      - {name: isp-a, priority: 100, health: [isp-a-down], activate: ${exec("a")}}
      - {name: isp-b, priority: 50, health: [isp-b-down], activate: ${exec("b")}}
    failback: {mode: auto, hold: 1s}
    damping: {max_switches: 1000, within: 10m}
`,
    );
    mkdirSync(join(dir, "state"));
    d = new BenchDaemon(file, join(dir, "state"));
    await d.started(30_000);
    const daemon = d;
    const events = (): StandbyEvent[] => {
      try {
        return daemon.events();
      } catch {
        return []; // a line being written
      }
    };
    // the first poll (within the first 10 s) makes both members healthy and isp-a active
    const settled = await until(
      () => (events().filter((e) => e.kind === "rule" && e.state === "ok").length >= 2 ? true : undefined),
      20_000,
    );
    if (!settled) throw new Error("the daemon's first poll did not settle both members within 20 s");
    sender = snmp.createSession("127.0.0.1", COMMUNITY, { trapPort, version: snmp.Version2c });
    sender.on("error", () => {});
    const lastAction = () => readFileSync(actions, "utf8").trim().split("\n").filter(Boolean).at(-1);
    for (let t = 0; t < trials; t++) {
      const mark = events().length;
      agent.update((s) => {
        s.if[0]!.oper = 2;
      });
      const sent = await sendTrap(sender, LINK_DOWN, 1, 2);
      const fo = await until(() => {
        const e = events().slice(mark);
        const f = e.find((x): x is EventOf<"failover"> => x.kind === "failover");
        const a = e.find((x): x is EventOf<"action"> => x.kind === "action" && x.member === "isp-b");
        return f && a && lastAction()?.startsWith("b ") ? { f, a } : undefined;
      }, 5000);
      if (!fo) failures.push(`trial ${t}: no failover within 5 s`);
      else {
        toEvent.push(fo.f.ts - sent);
        toAction.push(Number(lastAction()!.split(" ")[1]) / 1e6 - sent);
        actionDur.push(fo.a.duration_ms);
      }
      const up = events().length;
      agent.update((s) => {
        s.if[0]!.oper = 1;
      });
      const upSent = await sendTrap(sender, LINK_UP, 1, 1);
      const fb = await until(
        () =>
          events()
            .slice(up)
            .find((x): x is EventOf<"failback"> => x.kind === "failback"),
        5000,
      );
      if (!fb) failures.push(`trial ${t}: no failback within 5 s`);
      else toBack.push(fb.ts - upSent);
      // the failback's activate (isp-a) must be done before the next trial reads the action file
      await until(() => (lastAction()?.startsWith("a ") ? true : undefined), 5000);
      // a linkDown within `hold` of the failback is a relapse, which doubles the next hold (controller): wait past it
      await new Promise((r) => setTimeout(r, 1300));
    }
  } finally {
    sender?.close();
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const out: TrapResult = {
    trials,
    completed: toEvent.length,
    toFailoverEventMs: dist(toEvent),
    toActionDoneMs: dist(toAction),
    actionDurationMs: dist(actionDur),
    toFailbackEventMs: dist(toBack),
    failures: failures.slice(0, 5),
  };
  log(`snmp trap → failover event: ${fmtDist(out.toFailoverEventMs)}`);
  log(
    `snmp trap → activate action done: ${fmtDist(out.toActionDoneMs)} (the exec itself ${fmtDist(out.actionDurationMs)})`,
  );
  log(`snmp linkUp trap → failback event (hold 1 s): ${fmtDist(out.toFailbackEventMs)}`);
  for (const f of out.failures) log(`snmp trap: ${f}`);
  return out;
}

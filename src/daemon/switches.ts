/**
 * Carrying out switches: one queue per group, in which switches, switches a crash cut short, and reconciliations
 * with what is installed run one at a time, in order. A switch's intent is persisted before its actions run and
 * cleared after; the new member is activated first, the old one deactivated after, best effort.
 */
import type { RouteSpec } from "../actions/argv.js";
import { type Route, routeReader } from "../actions/routes.js";
import type { ActionContext, ActionResult } from "../actions/run.js";
import type { ActionSpec } from "../actions/types.js";
import type { Log } from "../collector.js";
import type { Config } from "../config/schema.js";
import { resolveSecret } from "../config/secrets.js";
import type { GroupSpec, MemberSpec } from "../groups/types.js";
import type { Output, Pipeline, SwitchOrder } from "../pipeline.js";
import { SerialQueue } from "../util/atomic.js";
import { type BusyGroup, switchBudgetMs } from "./liveness.js";
import type { SwitchIntent } from "./state.js";
import {
  actionEvent,
  FENCED,
  type FenceGate,
  fencedEvent,
  installedMembers,
  isCheckable,
} from "./switch-support.js";

export { actionEvent, type FenceGate } from "./switch-support.js";

import type { StateWriter } from "./statewriter.js";

/** What the switcher needs of the daemon. */
export interface SwitcherHost {
  readonly log: Log;
  readonly dryRun: boolean;
  readonly act: (action: ActionSpec, ctx: ActionContext) => Promise<ActionResult>;
  /** Tests: which members are installed, instead of reading routes and addresses. */
  readonly installed?: ((group: GroupSpec) => Promise<string[] | undefined>) | undefined;
  readonly state: StateWriter;
  config(): Config;
  pipeline(): Pipeline;
  /** Monotonic ms. */
  now(): number;
  stopped(): boolean;
  /** Records events (and queues the switches) that carrying out a switch produces. */
  handle(out: Output): void;
  /** Fleet mode: the etcd checks of shared groups' switches (src/daemon/fleet.ts). */
  gate?(): FenceGate | undefined;
}

export class Switcher {
  /** Switches, resumed switches and reconciliations of one group run one at a time, in order. */
  private readonly queues = new Map<string, SerialQueue>();
  /** Switches queued or running per group: reconciliation leaves such a group to them. */
  private readonly pending = new Map<string, number>();
  /** Switches decided and not finished, per group: persisted before their actions run. */
  readonly intents = new Map<string, SwitchIntent[]>();
  /** Dry run: the differences between decision and reality already logged, per group. */
  private readonly dryRunDiffs = new Map<string, string>();
  private reconcileRunning: Promise<void> | undefined;

  constructor(private readonly h: SwitcherHost) {}

  private periodic: NodeJS.Timeout | undefined;

  /** Reconciles every `ms` (0: stops); runs never overlap: one still going (a slow `ip`) makes the next skip. */
  reconcileEvery(ms: number): void {
    clearInterval(this.periodic);
    this.periodic = undefined;
    if (ms <= 0) return;
    this.periodic = setInterval(() => {
      if (this.reconciling || this.h.stopped()) return;
      void this.reconcile("periodic");
    }, ms);
    this.periodic.unref();
  }

  /** A reconciliation is running (periodic runs never overlap). */
  get reconciling(): boolean {
    return this.reconcileRunning !== undefined;
  }

  /** Whether a switch of this group is decided and not finished. */
  switching(group: string): boolean {
    return (this.intents.get(group)?.length ?? 0) > 0;
  }

  /** After a reload: intents of groups that no longer exist are dropped. */
  keepGroups(config: Config): void {
    for (const name of this.intents.keys())
      if (!config.groups.some((g) => g.name === name)) this.intents.delete(name);
  }

  /** Resolves when every queued switch and reconciliation has ended. */
  async drain(): Promise<void> {
    await this.reconcileRunning;
    await Promise.allSettled([...this.queues.values()].map((q) => q.drain()));
  }

  private queue(group: string): SerialQueue {
    let q = this.queues.get(group);
    if (!q) this.queues.set(group, (q = new SerialQueue()));
    return q;
  }

  /** Since when (monotonic ms) each group's queue runs its current job: the watchdog's check (liveness.ts). */
  private readonly running = new Map<string, number>();

  /** The groups whose queue runs a job: since when, and the most it may take. */
  busy(graceMs?: number): BusyGroup[] {
    return [...this.running].map(([group, since]) => {
      const spec = this.h.config().groups.find((g) => g.name === group);
      return { group, since, budgetMs: switchBudgetMs(spec, graceMs) };
    });
  }

  /** Queues a job of the group's queue, timed while it runs. */
  private job(group: string): { run: (job: () => Promise<void>) => Promise<void> } {
    return {
      run: (job) =>
        this.queue(group).run(async () => {
          this.running.set(group, this.h.now());
          try {
            await job();
          } finally {
            this.running.delete(group);
          }
        }),
    };
  }

  /** Queues a switch the pipeline decided; its intent is persisted before its actions run. */
  enqueue(sw: SwitchOrder): void {
    const intent: SwitchIntent = { from: sw.from, to: sw.to, kind: sw.kind, reason: sw.reason };
    const list = this.intents.get(sw.group) ?? [];
    list.push(intent);
    this.intents.set(sw.group, list);
    void this.h.state.save();
    const seq = this.h.state.seq;
    this.pending.set(sw.group, (this.pending.get(sw.group) ?? 0) + 1);
    this.job(sw.group)
      .run(async () => {
        try {
          // Persist, then act: the intent is on disk before the first action runs. A disk that fails does
          // not stop the failover (logged by saveState).
          await this.h.state.durable(seq);
          const gate = this.h.gate?.();
          if (sw.fence !== undefined && gate) {
            // A shared group: the intent goes to etcd under the token first; refused, nothing runs.
            const refused = await gate.begin(sw.group, intent, sw.fence);
            if (refused !== undefined) {
              this.fenced(sw.group, sw.from, sw.to, sw.fence, refused);
              return;
            }
            try {
              await this.runSwitch(sw, true);
            } finally {
              await gate.end(sw.group, sw.fence);
            }
          } else await this.runSwitch(sw);
        } finally {
          this.pending.set(sw.group, (this.pending.get(sw.group) ?? 1) - 1);
          const l = this.intents.get(sw.group);
          const i = l?.indexOf(intent) ?? -1;
          if (l && i >= 0) l.splice(i, 1);
          if (l?.length === 0) this.intents.delete(sw.group);
          await this.h.state.save();
        }
      })
      .catch((err: unknown) => {
        this.h.log.error({ group: sw.group, err: (err as Error).message }, "switch failed unexpectedly");
      });
  }

  /** A shared group's switch or action not carried out: its fencing token was refused (or etcd did not answer). */
  private fenced(group: string, from: string | undefined, to: string, fence: string, why: string): void {
    this.h.log.warn({ group, from, to, fence, why }, "switch not carried out: fencing token refused");
    this.h.handle({ events: [fencedEvent(this.h.now(), group, from, to, fence, why)], switches: [] });
  }

  /**
   * A switch a crash (or kill -9) cut short: its intent was saved and never cleared. The saved active member's
   * activation is run again, then the deactivation of the members left, whatever kind the actions are. In a
   * shared group (`fence` given) it is the next leader that finishes a switch its predecessor left behind.
   */
  resume(groupName: string, list: readonly SwitchIntent[], fence?: string): void {
    this.pending.set(groupName, (this.pending.get(groupName) ?? 0) + 1);
    this.job(groupName)
      .run(async () => {
        try {
          const group = this.h.config().groups.find((g) => g.name === groupName);
          const state = this.h.pipeline().groupState(groupName);
          const first = list[0];
          if (!group || !state || !first) return;
          const to = group.members.find((m) => m.name === state.active);
          if (!to) return;
          const froms = [...new Set(list.map((i) => i.from))].filter((f) => f !== to.name);
          const cause = fence === undefined ? "a restart" : "the previous leader's end";
          const reason = `finishing the ${first.kind} ${list.map((i) => `${i.from} → ${i.to}`).join(", ")} cut short by ${cause}: activating ${to.name} again${froms.length ? `, then deactivating ${froms.join(", ")}` : ""} (${first.reason})`;
          this.h.log.warn({ group: groupName, intents: list }, reason);
          const gate = this.h.gate?.();
          if (fence !== undefined && gate) {
            const refused = await gate.begin(groupName, { ...first, to: to.name }, fence);
            if (refused !== undefined) {
              this.fenced(groupName, first.from, to.name, fence, refused);
              return;
            }
          }
          this.h.handle({
            events: [
              {
                ts: this.h.now(),
                kind: "switch_resumed",
                group: groupName,
                from: first.from,
                to: to.name,
                reason,
                ...(fence !== undefined ? { fence } : {}),
              },
            ],
            switches: [],
          });
          const ctx = {
            group: groupName,
            from: first.from,
            to: to.name,
            reason,
            ...(fence !== undefined ? { fence } : {}),
          };
          const failed = await this.runMemberActions(
            group,
            to,
            "activate",
            to.activate,
            ctx,
            fence !== undefined,
          );
          if (failed) {
            this.h.handle(this.h.pipeline().switchResult(groupName, to.name, false, failed, this.h.now()));
            return;
          }
          for (const name of froms) {
            const m = group.members.find((x) => x.name === name);
            if (m && m.deactivate.length > 0)
              await this.runMemberActions(group, m, "deactivate", m.deactivate, ctx);
          }
          if (fence !== undefined) await this.h.gate?.()?.end(groupName, fence);
        } finally {
          this.pending.set(groupName, (this.pending.get(groupName) ?? 1) - 1);
          const l = this.intents.get(groupName);
          if (l) {
            l.splice(0, list.length);
            if (l.length === 0) this.intents.delete(groupName);
          }
          await this.h.state.save();
        }
      })
      .catch((err: unknown) => {
        this.h.log.error({ group: groupName, err: (err as Error).message }, "resuming a switch failed");
      });
  }

  /**
   * Activation of the new member first (its actions in order; the first failure stops it), then
   * deactivation of the old one, best effort: it never blocks or undoes the activation.
   */
  private async runSwitch(sw: SwitchOrder, fenceChecked = false): Promise<void> {
    const group = this.h.config().groups.find((g) => g.name === sw.group);
    if (!group) return;
    const to = group.members.find((m) => m.name === sw.to);
    const from = group.members.find((m) => m.name === sw.from);
    if (!to) return;
    const ctx = {
      group: sw.group,
      from: sw.from,
      to: sw.to,
      reason: sw.reason,
      ...(sw.fence !== undefined ? { fence: sw.fence } : {}),
    };
    // The intent's write just compared the token: the first action needs no second check.
    const failed = await this.runMemberActions(group, to, "activate", to.activate, ctx, fenceChecked);
    if (failed === FENCED) return;
    if (failed) {
      this.h.handle(this.h.pipeline().switchResult(sw.group, sw.to, false, failed, this.h.now()));
      return;
    }
    if (from && from.name !== to.name && from.deactivate.length > 0)
      await this.runMemberActions(group, from, "deactivate", from.deactivate, ctx);
  }

  /** Runs actions in order; returns a description of the first failure, if any. */
  private async runMemberActions(
    group: GroupSpec,
    member: MemberSpec,
    phase: "activate" | "deactivate" | "reassert",
    actions: readonly ActionSpec[],
    ctx: { group: string; from?: string; to: string; reason: string; fence?: string },
    fenceChecked = false,
  ): Promise<string | undefined> {
    for (const [i, action] of actions.entries()) {
      const gate = this.h.gate?.();
      if (ctx.fence !== undefined && gate && !(fenceChecked && i === 0)) {
        // Before every action of a shared group: is this instance still the leader it was?
        const refused = await gate.check(ctx.group, ctx.fence);
        if (refused !== undefined) {
          this.fenced(ctx.group, ctx.from, ctx.to, ctx.fence, `${phase} ${member.name}: ${refused}`);
          return FENCED;
        }
      }
      const r = await this.h.act(action, {
        ...ctx,
        dryRun: this.h.dryRun,
        resolveSecret: (s) => resolveSecret(s),
      });
      this.h.handle({ events: [actionEvent(group, member, phase, r, this.h.now())], switches: [] });
      if (!r.ok && phase !== "deactivate") return `${r.kind}: ${r.error ?? "failed"}`;
    }
    return undefined;
  }

  installedMembers(
    group: GroupSpec,
    routes: (spec: RouteSpec) => Promise<Route[]>,
  ): Promise<string[] | undefined> {
    if (this.h.installed) return this.h.installed(group);
    if (!group.members.some((m) => isCheckable(m.activate))) return Promise.resolve(undefined);
    return installedMembers(group, routes);
  }

  /**
   * Compares each group's active member with what is installed (routes, addresses) and re-asserts it when
   * something else changed it: at start (after adopting, see start()) and then periodically. Each group's
   * check is a job of its queue, so it never runs alongside a switch of that group; a group with a switch
   * queued is left to it. Never rejects.
   */
  reconcile(why: "start" | "periodic"): Promise<void> {
    const routes = routeReader();
    const jobs = this.h.config().groups.map((g) =>
      this.job(g.name)
        .run(() => this.reconcileGroup(g.name, why, routes))
        .catch((err: unknown) =>
          this.h.log.error({ group: g.name, err: (err as Error).message }, "reconciliation failed"),
        ),
    );
    const all = Promise.all(jobs).then(() => {
      if (this.reconcileRunning === all) this.reconcileRunning = undefined;
    });
    this.reconcileRunning = all;
    return all;
  }

  private async reconcileGroup(
    name: string,
    why: "start" | "periodic",
    routes: (spec: RouteSpec) => Promise<Route[]>,
  ): Promise<void> {
    if (this.h.stopped() || (this.pending.get(name) ?? 0) > 0) return;
    const group = this.h.config().groups.find((g) => g.name === name);
    if (!group) return; // removed by a reload
    // A shared group is re-asserted by its leader only, under its token.
    const shared = this.h.gate?.()?.shared(name) === true;
    if (shared && this.h.gate?.()?.fenceOf(name) === undefined) return;
    let installed: string[] | undefined;
    try {
      installed = await this.installedMembers(group, routes);
    } catch (err) {
      this.h.log.warn({ group: name, err: (err as Error).message }, "cannot read the installed state");
      return;
    }
    if (installed === undefined) return;
    // Read after the await: a reload or a decision may have changed the group meanwhile.
    if (this.h.stopped() || (this.pending.get(name) ?? 0) > 0) return;
    const current = this.h.config().groups.find((g) => g.name === name);
    const state = this.h.pipeline().groupState(name);
    if (!current || !state) return;
    if (installed.length === 1 && installed[0] === state.active) {
      this.dryRunDiffs.delete(name);
      return;
    }
    const member = current.members.find((m) => m.name === state.active);
    if (!member) return;
    if (this.h.dryRun) {
      // Nothing acts in a dry run, so reality stays behind the decisions: say so once per difference.
      const diff = `${state.active}|${installed.join(",")}`;
      if (this.dryRunDiffs.get(name) === diff) return;
      this.dryRunDiffs.set(name, diff);
    }
    this.h.log.warn(
      { group: name, active: state.active, installed, why, dry_run: this.h.dryRun },
      "installed state differs from the active member; re-asserting it",
    );
    const fence = shared ? this.h.gate?.()?.fenceOf(name) : undefined;
    if (shared && fence === undefined) return;
    await this.runMemberActions(current, member, "reassert", member.activate, {
      group: name,
      ...(fence !== undefined ? { fence } : {}),
      to: member.name,
      reason: `re-assert ${member.name} (${why}): installed ${installed.length ? installed.join(", ") : "none of the members"}`,
    });
  }
}

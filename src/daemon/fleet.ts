/**
 * Fleet mode in the daemon (issue 12, docs/fleet.md): the `Fleet` (etcd lease, votes, elections) wired to the
 * pipeline (`SharedHooks`: shared groups decided from the observers' verdicts, by their leader only) and to the
 * switcher (`FenceGate`: a shared switch's intent written to etcd under the fencing token, the token compared
 * before every action). Followers adopt the leader's state from etcd; a new leader carries on from it and
 * finishes a switch intent its predecessor left behind.
 */

import { VERSION } from "../cli/version.js";
import { Fleet, type FleetStatus, type SharedStateValue } from "../cluster/fleet.js";
import type { FleetVerdict } from "../cluster/quorum.js";
import type { Config } from "../config/schema.js";
import type { FleetEvent, StandbyEvent } from "../groups/events.js";
import type { HealthSnapshot, MemberStatus } from "../groups/state.js";
import type { GroupSpec } from "../groups/types.js";
import type { Output, SharedHooks, SwitchOrder } from "../pipeline.js";
import type { GroupView } from "../sinks/influx/line.js";
import { CommandRelay } from "./fleet-commands.js";
import { groupStatus, sinkView } from "./fleet-status.js";
import { type FleetHost, type SharedGroupStatus, sharedNames, sharedTargets } from "./fleet-types.js";
import { StateWriter } from "./fleet-writes.js";

export { type FleetHost, type SharedGroupStatus, sharedTargets } from "./fleet-types.js";

import { Shards, type ShardsOptions } from "./shards.js";
import { checkState, fromDurable, type SwitchIntent } from "./state.js";
import type { FenceGate } from "./switches.js";

/**
 * The glue when the config has `cluster:` and this is not a dry run (a dry run does not join the fleet: campaigning
 * and writing to etcd are state; `warn` says so).
 */
export async function joinFleet(
  h: FleetHost,
  dryRun: boolean,
  warn: (w: string) => void,
): Promise<FleetGlue | undefined> {
  if (!h.config().cluster) return undefined;
  if (dryRun) {
    warn(
      "dry run: not joining the fleet (an instance that campaigns or writes to etcd is not a dry run); shared groups are decided from this instance's view alone",
    );
    return undefined;
  }
  return FleetGlue.create(h);
}

export class FleetGlue implements SharedHooks, FenceGate {
  readonly fleet: Fleet;
  /** The token under which this instance took over each group it leads (its state read from etcd). */
  private readonly taken = new Map<string, string>();
  /** etcd writes of a group, in order (intent, state, end). */
  private readonly writer: StateWriter;
  /** The raw state JSON a follower adopted last, per group. */
  private readonly adopted = new Map<string, string>();
  /** The last verdicts per group and member (status, metrics). */
  private readonly verdicts = new Map<string, Map<string, FleetVerdict>>();
  private unavailable: string | undefined;
  /** Operator commands forwarded to the leader (followers) and served (leader): fleet-commands.ts. */
  readonly relay: CommandRelay;
  /** The shard map of the shared collectors (set by the daemon; shards.ts): `shards` in the status. */
  shards: Shards | undefined;

  private constructor(
    private readonly h: FleetHost,
    fleet: Fleet,
  ) {
    this.fleet = fleet;
    this.writer = new StateWriter(h, fleet, (g) => this.fenceOf(g));
    this.relay = new CommandRelay(h, fleet, (g) => this.fenceOf(g));
    fleet.on("elected", (g, fence) => void this.takeOver(g, fence));
    fleet.on("deposed", (g, reason) => this.deposed(g, reason));
    fleet.on("change", () => this.changed());
    fleet.on("unavailable", (reason) => this.setUnavailable(reason));
    fleet.on("available", () => this.setAvailable());
    fleet.on("refused", (reason) => this.record({ kind: "fleet_unavailable", reason }));
  }

  /** The glue of the config's `cluster:` (undefined without one); `fleet` is for tests (a fake). */
  static async create(h: FleetHost, fleet?: Fleet): Promise<FleetGlue | undefined> {
    const c = h.config();
    if (!c.cluster) return undefined;
    if (fleet) return new FleetGlue(h, fleet);
    fleet = await Fleet.create({
      spec: c.cluster,
      host: c.host,
      version: VERSION,
      groups: sharedNames(c),
      targets: sharedTargets(c),
      clock: h.clock,
    });
    return new FleetGlue(h, fleet);
  }

  start(): void {
    this.fleet.start();
  }

  /** The shard map of the shared collectors (shards.ts), started; `apply` starts and stops them in the runtime. */
  startShards(o: Pick<ShardsOptions, "apply" | "record">): Shards {
    const shards = new Shards({
      fleet: this.fleet,
      targets: () => sharedTargets(this.h.config()),
      now: () => this.h.clock.mono(),
      ...o,
    });
    this.shards = shards;
    shards.start();
    return shards;
  }

  async close(): Promise<void> {
    await this.writer.drain();
    await this.fleet.close();
  }

  /** After a reload (the `cluster:` block itself cannot change without a restart). */
  async reconfigure(c: Config): Promise<void> {
    await this.fleet.setMembership(sharedNames(c), sharedTargets(c));
  }

  // ---- SharedHooks (the pipeline) ----

  health(
    spec: GroupSpec,
    local: HealthSnapshot,
    now: number,
  ): { snapshot: HealthSnapshot; decides: boolean } {
    const views: Record<string, { health: MemberStatus["health"]; reason: string }> = {};
    for (const m of spec.members) {
      const st = local.members[m.name];
      views[m.name] = { health: st?.health ?? "unknown", reason: st?.reason ?? "no data yet" };
    }
    this.fleet.publish(spec.name, views);
    const members: Record<string, MemberStatus> = {};
    const verdicts = new Map<string, FleetVerdict>();
    for (const m of spec.members) {
      const v = this.fleet.verdict(spec.name, m.name, spec.quorum ?? "majority", now, views[m.name]);
      verdicts.set(m.name, v);
      const mine = local.members[m.name];
      members[m.name] = {
        health: v.health,
        // This instance's own culprits explain an unhealthy verdict (the rule in the failover event).
        culprits: v.health !== "healthy" && mine && mine.health !== "healthy" ? mine.culprits : [],
        reason: v.reason,
      };
    }
    this.verdicts.set(spec.name, verdicts);
    return { snapshot: { members, verifyFiring: local.verifyFiring }, decides: this.decides(spec.name, now) };
  }

  decides(group: string, now?: number): boolean {
    const fence = this.taken.get(group);
    return fence !== undefined && this.fleet.decides(group, now) && this.fleet.fence(group) === fence;
  }

  notLeader(group: string): string {
    const leader = this.fleet.leader(group);
    return `group "${group}" is shared: its leader decides it${
      leader
        ? ` (${leader}); send the command to that instance`
        : ", and there is none now (etcd unreachable or no candidate)"
    }`;
  }

  /** After the leader's decisions: its groups' state to etcd; a switch writes it itself (its intent, first). */
  decided(out: Output): void {
    const switching = new Set(out.switches.map((sw) => sw.group));
    const groups = new Set<string>();
    for (const e of out.events)
      if (e.kind !== "rule" && e.kind !== "action" && "group" in e && e.group !== undefined)
        groups.add(e.group);
    for (const g of groups) if (!switching.has(g) && this.shared(g)) this.saved(g);
  }

  /** A switch decided by the pipeline, with the token it is to run under; undefined when it must not run. */
  order(sw: SwitchOrder): SwitchOrder | undefined {
    if (!this.shared(sw.group)) return sw;
    const fence = this.fenceOf(sw.group);
    if (fence === undefined) {
      this.record({
        kind: "switch_fenced",
        group: sw.group,
        from: sw.from,
        to: sw.to,
        reason: `${sw.from} → ${sw.to} not carried out: this instance no longer leads the shared group`,
      });
      return undefined;
    }
    return { ...sw, fence };
  }

  /** A shared group's switch event as recorded: with the leader that decided it and its fencing token. */
  stamp(e: StandbyEvent): StandbyEvent {
    if (e.kind !== "failover" && e.kind !== "failback" && e.kind !== "manual_switch") return e;
    if (!this.shared(e.group)) return e;
    const fence = this.fenceOf(e.group);
    return fence !== undefined ? { ...e, leader: this.fleet.name, fence } : e;
  }

  // ---- FenceGate (the switcher) ----

  shared(group: string): boolean {
    return this.h.config().groups.some((g) => g.name === group && g.scope === "shared");
  }

  fenceOf(group: string): string | undefined {
    return this.decides(group) ? this.taken.get(group) : undefined;
  }

  async begin(group: string, intent: SwitchIntent, fence: string): Promise<string | undefined> {
    return this.writer.write(group, fence, { ...intent, fence });
  }

  async check(group: string, fence: string): Promise<string | undefined> {
    try {
      if (await this.writer.whileLeading(group, fence, () => this.fleet.checkFence(group, fence)))
        return undefined;
      this.fleet.recheck();
      return `fencing token ${fence} refused by etcd: another instance leads "${group}" now`;
    } catch (e) {
      return `etcd did not answer the fencing check (${(e as Error).message}): not acting without it`;
    }
  }

  async end(group: string, fence: string): Promise<void> {
    const why = await this.writer.write(group, fence, undefined);
    if (why) this.h.log.warn({ group, why }, "could not clear the switch intent in etcd");
  }

  /** After the leader's decisions: its group state to etcd (ordered after any intent write). */
  saved(group: string): void {
    const fence = this.fenceOf(group);
    if (fence === undefined) return;
    const intent = this.h.intents(group)[0];
    void this.writer.write(group, fence, intent ? { ...intent, fence } : undefined).then((why) => {
      if (why) this.h.log.warn({ group, why }, "could not write the shared group's state to etcd");
    });
  }

  // ---- the fleet's events ----

  /** This instance won `group`: read its state from etcd, carry on from it, finish a switch left behind. */
  private async takeOver(group: string, fence: string): Promise<void> {
    const spec = this.h.config().groups.find((g) => g.name === group);
    if (!spec) return;
    let value: SharedStateValue | undefined;
    for (let attempt = 0; ; attempt++) {
      if (this.fleet.fence(group) !== fence) return; // lost it meanwhile
      try {
        value = await this.fleet.readState(group);
        break;
      } catch (e) {
        this.h.log.warn(
          { group, err: (e as Error).message },
          "cannot read the shared group's state; retrying",
        );
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, this.fleet.ttlMs / 2)));
      }
    }
    if (this.fleet.fence(group) !== fence) return;
    const now = this.h.clock.mono();
    const prev = value?.leader;
    if (value) {
      const st = this.toState(spec, value, now);
      if (st) this.h.pipeline().adopt(group, st);
    }
    this.taken.set(group, fence);
    this.adopted.delete(group);
    const active = this.h.pipeline().groupState(group)?.active;
    const intent = value?.intent;
    this.record({
      kind: "leader_elected",
      group,
      leader: this.fleet.name,
      fence,
      reason: `${this.fleet.name} leads shared group "${group}" with fencing token ${fence}${
        prev && prev !== this.fleet.name ? ` (previous leader ${prev})` : ""
      }; ${value ? `carrying on from the state in etcd: active ${active}` : `no state in etcd yet: active ${active}`}${
        intent ? `; finishing the ${intent.kind} ${intent.from} → ${intent.to} it left behind` : ""
      }`,
    });
    if (intent) {
      this.h.resume(
        group,
        [
          {
            from: intent.from,
            to: intent.to,
            kind: intent.kind as SwitchIntent["kind"],
            reason: intent.reason,
          },
        ],
        fence,
      );
    } else this.saved(group);
    // Decide now from the current verdicts (a failover the old leader did not make is made here).
    this.h.handle(this.h.pipeline().refreshShared(now, undefined, group));
  }

  private deposed(group: string, reason: string): void {
    const had = this.taken.delete(group);
    if (!had) return;
    this.record({
      kind: "leader_lost",
      group,
      leader: this.fleet.leader(group) ?? "",
      reason: `${this.fleet.name} no longer leads shared group "${group}": ${reason}`,
    });
    this.changed();
  }

  /** The fleet's picture changed: followers adopt the leader's state, the leader re-decides from the verdicts. */
  private changed(): void {
    const now = this.h.clock.mono();
    const pipeline = this.h.pipeline();
    for (const spec of this.h.config().groups) {
      if (spec.scope !== "shared") continue;
      if (this.decides(spec.name, now)) {
        this.relay.serve(spec.name);
        continue;
      }
      const value = this.fleet.cachedState(spec.name);
      if (!value) continue;
      const json = JSON.stringify(value.state);
      if (this.adopted.get(spec.name) === json) continue;
      const st = this.toState(spec, value, now);
      if (!st) continue;
      this.adopted.set(spec.name, json);
      pipeline.adopt(spec.name, st);
    }
    this.h.handle(pipeline.refreshShared(now));
  }

  private toState(spec: GroupSpec, value: SharedStateValue, now: number) {
    const checked = checkState({ version: 2, groups: { [spec.name]: value.state } });
    if (checked.kind !== "ok") {
      this.h.log.warn(
        { group: spec.name, why: checked.kind === "bad" ? checked.why : "none" },
        "the shared group's state in etcd is malformed",
      );
      return undefined;
    }
    const d = checked.state.groups[spec.name];
    return d ? fromDurable(spec, d, now, this.h.wallClock) : undefined;
  }

  private setUnavailable(reason: string): void {
    this.unavailable = reason;
    const groups = sharedNames(this.h.config());
    this.record({
      kind: "fleet_unavailable",
      reason: `${groups.length ? `shared group(s) ${groups.join(", ")}: no switch: ` : ""}${reason}${
        this.fleet.lease.lastError ? ` (${this.fleet.lease.lastError})` : ""
      }; local groups keep working`,
    });
  }

  private setAvailable(): void {
    const was = this.unavailable;
    this.unavailable = undefined;
    this.record({
      kind: "fleet_available",
      reason: `etcd reachable again: this instance holds a lease${was ? ` (after: ${was})` : ""}; shared groups are decided again`,
    });
  }

  private record(e: Omit<FleetEvent, "ts">): void {
    this.h.handle({ events: [{ ts: this.h.clock.mono(), ...e } as StandbyEvent], switches: [] });
  }

  // ---- status ----

  status(): FleetStatus & { unavailable?: string; shards?: Record<string, string[]> } {
    return {
      ...this.fleet.status(),
      ...(this.unavailable ? { unavailable: this.unavailable } : {}),
      ...(this.shards ? { shards: this.shards.status() } : {}),
    };
  }

  /** A shared group for the sinks (metrics.prom, InfluxDB): leader and vote counts per member. */
  sinkView(group: string): GroupView["fleet"] {
    return sinkView(this.fleet, group, this.fenceOf(group), this.verdicts.get(group));
  }

  groupStatus(spec: GroupSpec): SharedGroupStatus {
    const decides = this.decides(spec.name);
    return groupStatus(
      this.fleet,
      spec,
      decides ? this.taken.get(spec.name) : undefined,
      this.verdicts.get(spec.name),
    );
  }
}

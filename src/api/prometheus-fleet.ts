/** Fleet mode's gauges of `GET /metrics`, set from the status at every scrape (and reset before: scraped). */
import { Gauge, type Registry } from "prom-client";
import type { DaemonStatus } from "../daemon/status.js";

export class FleetGauges {
  private readonly groupLeader: Gauge<"group">;
  private readonly memberVotes: Gauge<"group" | "member" | "health">;
  private readonly leaseHeld: Gauge;
  private readonly instances: Gauge;

  constructor(registers: Registry[], scraped: (g: Gauge<string>) => void) {
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => {
      const g = new Gauge<L>({ name, help, labelNames, registers });
      scraped(g as Gauge<string>);
      return g;
    };
    this.groupLeader = gauge(
      "standby_group_leader",
      "Fleet mode: 1 on the instance that leads (decides) the shared group, 0 on the others",
      ["group"],
    );
    this.memberVotes = gauge(
      "standby_member_votes",
      "Fleet mode: the live observers that see the shared member so (health = healthy|degraded|unhealthy|unknown)",
      ["group", "member", "health"],
    );
    this.leaseHeld = gauge(
      "standby_fleet_lease_held",
      "Fleet mode: 1 while this instance holds its etcd lease (by its own clock); 0: shared groups do not switch",
      [],
    );
    this.instances = gauge(
      "standby_fleet_instances",
      "Fleet mode: live instances as last read from etcd",
      [],
    );
  }

  update(status: DaemonStatus): void {
    for (const g of status.groups) {
      if (!g.fleet) continue;
      this.groupLeader.set({ group: g.name }, g.fleet.role === "leader" ? 1 : 0);
      for (const v of g.fleet.votes)
        for (const [health, n] of Object.entries(v.tally ?? {}))
          this.memberVotes.set({ group: g.name, member: v.member, health }, n);
    }
    if (!status.fleet) return;
    this.leaseHeld.set(status.fleet.lease.held ? 1 : 0);
    this.instances.set(status.fleet.instances.length);
  }
}

/** What status and the sinks show of a shared group (fleet mode): leader, token, role, the observers' votes. */
import type { Fleet } from "../cluster/fleet.js";
import type { FleetVerdict } from "../cluster/quorum.js";
import type { GroupSpec } from "../groups/types.js";
import type { GroupView } from "../sinks/influx/line.js";
import type { SharedGroupStatus } from "./fleet-types.js";

/** For metrics.prom and InfluxDB: the leader, whether this instance is it (`fence`: its token), vote counts. */
export function sinkView(
  fleet: Fleet,
  group: string,
  fence: string | undefined,
  verdicts: ReadonlyMap<string, FleetVerdict> | undefined,
): GroupView["fleet"] {
  const leader = fleet.leader(group);
  return {
    ...(leader !== undefined ? { leader } : {}),
    isLeader: fence !== undefined,
    ...(fence !== undefined ? { fence } : {}),
    votes: Object.fromEntries([...(verdicts ?? [])].map(([m, v]) => [m, { ...v.tally }])),
  };
}

/** For `standby status`; `fence` is this instance's token while it decides the group. */
export function groupStatus(
  fleet: Fleet,
  spec: GroupSpec,
  fence: string | undefined,
  verdicts: ReadonlyMap<string, FleetVerdict> | undefined,
): SharedGroupStatus {
  const e = fleet.election(spec.name);
  const leader = e?.leader?.name;
  const token = fence ?? e?.leader?.createRevision;
  return {
    ...(leader !== undefined ? { leader } : {}),
    ...(token !== undefined ? { fence: token } : {}),
    role: fence !== undefined ? "leader" : leader !== undefined ? "follower" : "candidate",
    quorum: String(spec.quorum ?? "majority"),
    votes: spec.members.map((m) => {
      const v = verdicts?.get(m.name);
      return {
        member: m.name,
        verdict: v?.health ?? "unknown",
        reason: v?.reason ?? "no verdict yet",
        ...(v ? { tally: { ...v.tally } } : {}),
        views: fleet.votes.views(spec.name, m.name).map((x) => ({
          observer: x.observer,
          health: x.health,
          ...(x.reason !== undefined ? { reason: x.reason } : {}),
        })),
      };
    }),
  };
}

/** Operator commands on a group: failover, failback, pin, unpin, freeze, unfreeze. Operators are obeyed. */
import { formatDuration, formatElapsed } from "../util/duration.js";
import type { Command } from "./state.js";
import { failbackCandidate, type Step } from "./step.js";
import type { MemberSpec } from "./types.js";

/** Applies a command to the step; returns why it was refused, if it was. */
export function command(st: Step, c: Command & { by?: string }): string | undefined {
  const { s, spec, now } = st;
  const by = c.by ? ` by ${c.by}` : "";
  switch (c.command) {
    case "failover": {
      let target: MemberSpec | undefined;
      if (c.member) {
        target = st.member(c.member);
        if (!target) return `group "${spec.name}" has no member "${c.member}"`;
        if (target.name === s.active) return `${target.name} is already active`;
        const h = st.status(target.name).health;
        if (h === "unhealthy" || h === "unknown") return `${target.name} is ${h}; refusing to switch to it`;
      } else {
        target = st.bestTarget(s.active)?.member;
        if (!target) return `no healthy or degraded member to fail over to from ${s.active}`;
      }
      if (c.until !== undefined && c.until <= now) return "the expiry is in the past";
      // Operators are obeyed: the group stays on the target, as a pin holds it, until failback/unpin/expiry.
      s.pin = { member: target.name, by: "failover", ...(c.until !== undefined ? { until: c.until } : {}) };
      st.switchTo(
        target.name,
        "manual_switch",
        `operator failover${by} from ${s.active} to ${target.name} (${st.status(target.name).health}); held there until ${
          c.until !== undefined ? `its expiry in ${formatDuration(c.until - now)}, ` : ""
        }standby failback or unpin (automatic failback does not undo it)`,
      );
      return undefined;
    }
    case "failback": {
      // An operator's failback releases what held the group (a pin, an earlier failover by hand).
      const pin = s.pin;
      delete s.pin;
      const cand = failbackCandidate(st);
      if (!cand) {
        if (pin) s.pin = pin;
        return `no healthy member is preferred over the active ${s.active}`;
      }
      const since = s.healthySince[cand.name];
      if (pin)
        st.emit({
          kind: "unpinned",
          member: pin.member,
          reason: `unpinned from ${pin.member}${by} (failback)`,
        });
      st.switchTo(
        cand.name,
        "manual_switch",
        `operator failback${by} to ${cand.name} (healthy${since !== undefined ? ` for ${formatElapsed(now - since)}` : ""}, failback ${spec.failback.mode})`,
      );
      return undefined;
    }
    case "pin": {
      const m = st.member(c.member);
      if (!m) return `group "${spec.name}" has no member "${c.member}"`;
      const h = st.status(m.name).health;
      const bad = h === "unhealthy" || h === "unknown";
      if (bad && !c.force) return `${m.name} is ${h}; refusing to pin it (use force)`;
      if (c.until !== undefined && c.until <= now) return "pin expiry is in the past";
      s.pin = { member: m.name, by: "pin", ...(c.until !== undefined ? { until: c.until } : {}) };
      if (bad) s.forced = m.name;
      else if (s.forced !== undefined && s.forced !== m.name) delete s.forced;
      st.emit({
        kind: "pinned",
        member: m.name,
        reason: `pinned to ${m.name}${by}${c.until !== undefined ? ` for ${formatDuration(c.until - now)}` : ""}${
          bad ? ` although ${h} (forced): no automatic failover away from it until its health changes` : ""
        }`,
      });
      if (s.active !== m.name) st.switchTo(m.name, "manual_switch", `operator pin${by} to ${m.name} (${h})`);
      return undefined;
    }
    case "unpin":
      if (!s.pin) return "not pinned";
      st.emit({ kind: "unpinned", member: s.pin.member, reason: `unpinned from ${s.pin.member}${by}` });
      delete s.pin;
      delete s.forced;
      return undefined;
    case "freeze":
      if (s.frozen && s.frozen.until === undefined) return "already frozen";
      s.frozen = { at: now, reason: c.reason ?? `frozen${by}` };
      st.emit({
        kind: "frozen",
        member: s.active,
        reason: `frozen on ${s.active}${by}${c.reason ? `: ${c.reason}` : ""}`,
      });
      return undefined;
    case "unfreeze":
      if (!s.frozen) return "not frozen";
      delete s.frozen;
      s.switches = [];
      st.emit({ kind: "unfrozen", member: s.active, reason: `unfrozen${by}; automatic switching resumes` });
      return undefined;
  }
}

/** The earliest time at which `step(..., tick)` may decide something new. */

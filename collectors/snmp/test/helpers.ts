/** Shared by the snmp collector's tests: a spec for the test snmpd, a polling helper, sample lookups. */
import type { Sample } from "../../../src/engine/types.js";
import { collectorContext, type Logged } from "../../../test/helpers.js";
import { COMMUNITY, V3 } from "../../../test/peers/snmpd.js";
import { type SnmpCollectorSpec, schema } from "../config.js";
import { SnmpCollector } from "../index.js";

export function spec(
  port: number,
  extra: Record<string, unknown> = {},
  target: Record<string, unknown> = {},
) {
  return schema.parse({
    name: "sw",
    type: "snmp",
    interval: "5s",
    target: { host: "127.0.0.1", port, community: COMMUNITY, timeout: "500ms", retries: 0, ...target },
    profiles: ["if", "cisco-envmon"],
    ...extra,
  }) as SnmpCollectorSpec;
}

export const v3Target = (auth = "sha", key: string = V3.auth, user: string = V3.user) => ({
  version: 3,
  community: undefined,
  user,
  auth: { protocol: auth, key },
  priv: { protocol: "aes", key: V3.priv },
});

export function collector(s: SnmpCollectorSpec): { c: SnmpCollector; logged: Logged[] } {
  const { ctx, logged } = collectorContext(() => Date.now(), "h");
  return { c: new SnmpCollector(s, ctx), logged };
}

export const poll = (c: SnmpCollector) => c.collect(new AbortController().signal);

export const find = (s: readonly Sample[], metric: string, labels: Record<string, string> = {}) =>
  s.filter((x) => x.metric === metric && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

export const one = (s: readonly Sample[], metric: string, labels: Record<string, string> = {}) => {
  const f = find(s, metric, labels);
  if (f.length !== 1) throw new Error(`${f.length} samples of ${metric} ${JSON.stringify(labels)}`);
  return f[0]!;
};

export const up = (s: readonly Sample[]) => one(s, "snmp.up").value;

/**
 * Fleet mode's configuration (docs/fleet.md): the `cluster:` block's output is the ClusterSpec the etcd client
 * takes (defaults filled, TLS paths and file secrets resolved against the config file's directory), groups get
 * `scope` and `quorum`, snmp and ipmi collectors `shared`. The errors are in the fixtures
 * (test/fixtures/config/standby/cluster*.bad.yaml, shared-without-cluster.bad.yaml).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { ClusterSpec } from "../../../src/cluster/config.js";
import { configJsonSchema } from "../../../src/config/jsonschema.js";
import { formatError, loadConfig, loadConfigText } from "../../../src/config/load.js";
import type { Config } from "../../../src/config/schema.js";

const FIXTURES = "test/fixtures/config/standby";

async function config(file: string): Promise<Config> {
  const r = await loadConfig(file);
  if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
  return r.config;
}

async function errors(text: string): Promise<string[]> {
  const r = await loadConfigText(text, `${FIXTURES}/inline.yaml`);
  return r.ok ? [] : r.errors.map(formatError);
}

describe("cluster:", () => {
  it("is a ClusterSpec with paths and secrets resolved against the config file's directory", async () => {
    const c = await config(`${FIXTURES}/cluster.good.yaml`);
    const want: ClusterSpec = {
      etcd: ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://[fd00::3]:2379"],
      tls: {
        ca: path.resolve(FIXTURES, "tls/ca.pem"),
        cert: path.resolve(FIXTURES, "tls/client.pem"),
        key: "/etc/standby/etcd/client.key",
      },
      auth: { user: "standby", password: { kind: "file", path: path.resolve(FIXTURES, "etcd.pass") } },
      lease_ttl: 3000,
      prefix: "/site-a/standby",
      name: "web-01.site-a",
    };
    expect(c.cluster).toEqual(want);
  });

  it("defaults: lease_ttl 5s, prefix /standby, name the host", async () => {
    const c = await config(`${FIXTURES}/cluster-defaults.good.yaml`);
    expect(c.cluster).toEqual({
      etcd: ["127.0.0.1:2379"],
      lease_ttl: 5000,
      prefix: "/standby",
      name: "db-02",
    });
  });

  it("is absent without the block", async () => {
    const c = await config(`${FIXTURES}/full.good.yaml`);
    expect(c.cluster).toBeUndefined();
    expect("cluster" in c).toBe(false);
  });

  it("tls needs https:// endpoints", async () => {
    expect(await errors("cluster: {etcd: [http://127.0.0.1:2379], tls: {ca: ca.pem}}\n")).toEqual([
      `${FIXTURES}/inline.yaml:1:47: cluster.tls: TLS is set but the endpoints are not https://; expected etcd: [https://HOST:PORT, ...]`,
    ]);
  });

  it("accepts 2s, and IPv6 and name endpoints", async () => {
    expect(
      await errors(
        "cluster: {etcd: [etcd-1.example:2379, '[::1]:2379', 'http://[::1]:2380'], lease_ttl: 2s}\n",
      ),
    ).toEqual([]);
  });
});

describe("scope, quorum, shared", () => {
  it("groups default to scope local, quorum majority; the forms of quorum", async () => {
    const c = await config(`${FIXTURES}/cluster.good.yaml`);
    expect(c.groups.map((g) => [g.name, g.scope, g.quorum])).toEqual([
      ["vip", "shared", "majority"],
      ["storage", "shared", 2],
      ["any", "shared", "any"],
      ["local-uplink", "local", "majority"],
    ]);
  });

  it("warns when a shared group's quorum can never be met on a shared collector's evidence", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sb-cluster-"));
    writeFileSync(
      path.join(dir, "rules.yaml"),
      `rules:\n  - {name: core-down, metric: snmp.up, labels: {collector: core}, problem: "last == 0"}\n`,
    );
    const text = (quorum: string) => `host: h
cluster: {etcd: ["127.0.0.1:2379"]}
rules: [rules.yaml]
collectors:
  - {name: core, type: snmp, target: {host: 192.0.2.1, community: public}, profiles: [if], shared: true}
groups:
  - name: vip
    scope: shared
${quorum}    members: [{name: a, priority: 2, health: [core-down]}, {name: b, priority: 1}]
`;
    const warn = async (q: string) => {
      writeFileSync(path.join(dir, "inline.yaml"), text(q));
      const r = await loadConfig(path.join(dir, "inline.yaml"));
      if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
      return (r.warnings ?? []).map(formatError);
    };
    const w = await warn("");
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(
      /inline\.yaml:8:\d+: .*rule "core-down" \(member a\) reads collector "core", which is shared: .*quorum majority is never reached/,
    );
    expect(await warn("    quorum: all\n")).toHaveLength(1);
    expect(await warn("    quorum: any\n")).toEqual([]);
  });

  it("snmp and ipmi collectors default to shared: false", async () => {
    const c = await config(`${FIXTURES}/cluster.good.yaml`);
    expect(c.collectors.map((x) => [x.name, "shared" in x ? x.shared : undefined])).toEqual([
      ["core-router", true],
      ["bmc-7", true],
      ["local-bmc", false],
    ]);
  });

  it("quorum on a shared group in a config without a cluster: both errors at once", async () => {
    const text = "groups:\n  - {name: g, scope: shared, quorum: 0, members: [{name: a, priority: 1}]}\n";
    expect(await errors(text)).toEqual([
      `${FIXTURES}/inline.yaml:2:22: group "g": scope: shared needs a \`cluster:\` block (the etcd its leader is elected in); add cluster: {etcd: [...]} or use scope: local`,
      `${FIXTURES}/inline.yaml:2:38: group "g": quorum: 0 is not a number of observers; expected a whole number, at least 1 (or majority, any, all)`,
    ]);
  });
});

describe("standby schema", () => {
  it("has cluster, scope, quorum and shared on the input side", () => {
    const s = configJsonSchema() as {
      properties: Record<string, { properties?: Record<string, unknown>; items?: unknown }>;
    };
    const cluster = s.properties.cluster as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(Object.keys(cluster.properties)).toEqual(["etcd", "tls", "auth", "lease_ttl", "prefix", "name"]);
    expect(cluster.additionalProperties).toBe(false);
    expect(cluster.properties.lease_ttl).toMatchObject({ type: "string", default: "5s" });
    const group = (s.properties.groups as { items: { properties: Record<string, unknown> } }).items;
    expect(group.properties.scope).toMatchObject({ enum: ["local", "shared"], default: "local" });
    expect(JSON.stringify(group.properties.quorum)).toContain("majority");
    const text = JSON.stringify(s.properties.collectors);
    expect(text.match(/"shared":\{"default":false/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});

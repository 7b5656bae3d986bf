/**
 * The Grafana dashboards (grafana/dashboards/*.json) without a Grafana: their structure (schema version, uids,
 * every panel's grid position and datasource, unique refIds, the provisioned datasource's uid), every measurement
 * and tag they name checked against the collectors' metric catalogue and the influx sink's schema, and every panel
 * target, annotation and template variable query run — `$timeFilter`, `$__interval` and the variables substituted
 * as Grafana does — against a real influxd that the real daemon wrote to (grafana-daemon.ts: every kind of
 * collector, a failover and a failback, a shared group on a real etcd): a query that errors or finds no series
 * fails, naming the dashboard, the panel, the refId and the query. The one-group run of a query in the row "Fleet
 * (shared groups)" or of the "Fleet" annotation chooses the shared group, the others `uplink` (a local group has
 * no leader nor votes). Under CI=true a missing influxd, snmpd, etcd or etcdctl fails the run.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { failInCiWhenMissing } from "../peers/ci.js";
import { etcdMissing } from "../peers/etcd.js";
import { Influxd } from "../peers/influxd.js";
import { snmpdMissing } from "../peers/snmpd.js";
import { DashboardRun, EDGE, FLEET_NAME, GROUPS, HOST, SHARED } from "./grafana-daemon.js";
import {
  allPanels,
  DB,
  DS_UID,
  dashboards,
  files,
  parsed,
  type Query,
  queriesOf,
  SCHEMA,
  substitute,
  unknownNames,
} from "./grafana-queries.js";

/** Runs a query; says why it fails the dashboard (an error, no series), or undefined. */
async function problem(influxd: Influxd, q: string): Promise<string | undefined> {
  try {
    const r = await influxd.query(q, DB, { timeoutMs: 10_000 });
    if (!r.some((s) => (s.series ?? []).some((x) => x.values?.length > 0))) return "no series";
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

// --- structure: no influxd needed ---------------------------------------------------------------------------------
describe("grafana dashboards: structure", () => {
  it("are there, and are valid JSON", () => {
    expect(files.sort()).toEqual(["standby-components.json", "standby-overview.json"]);
    for (const { file, text } of dashboards) expect(() => JSON.parse(text), file).not.toThrow();
  });

  it("have schemaVersion ≥ 38, unique uids, a title, tags, a time range and variables", () => {
    const uids = new Set<string>();
    for (const { file, d } of parsed()) {
      expect(d.schemaVersion, file).toBeGreaterThanOrEqual(38);
      expect(d.uid, file).toMatch(/^[\w-]{1,40}$/);
      expect(uids.has(d.uid!), `${file}: uid ${d.uid} used twice`).toBe(false);
      uids.add(d.uid!);
      expect(d.title, file).toBeTruthy();
      expect(d.tags, file).toContain("standby");
      expect(d.time, file).toBeDefined();
      expect(
        d.templating?.list?.map((v) => v.name),
        file,
      ).toContain("host");
    }
  });

  it("every panel has a grid position, no two overlap, and every panel, target, annotation and variable uses the provisioned datasource", () => {
    const bad: string[] = [];
    for (const { file, d } of parsed()) {
      const ids = new Set<number>();
      const cells = new Map<string, string>();
      for (const p of allPanels(d)) {
        const where = `${file} › ${p.title ?? `#${p.id}`}`;
        if (p.id === undefined || ids.has(p.id)) bad.push(`${where}: no id or a duplicate id`);
        ids.add(p.id ?? -1);
        const g = p.gridPos;
        if (!g || ![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x + g.w > 24)
          bad.push(`${where}: gridPos ${JSON.stringify(g)}`);
        else
          for (let x = g.x; x < g.x + g.w; x++)
            for (let y = g.y; y < g.y + g.h; y++) {
              const other = cells.get(`${x},${y}`);
              if (other) bad.push(`${where}: overlaps ${other}`);
              cells.set(`${x},${y}`, p.title ?? "");
            }
        if (p.datasource?.uid !== DS_UID || p.datasource?.type !== "influxdb")
          bad.push(`${where}: datasource`);
        if (p.type === "row") continue;
        if (!p.targets?.length) bad.push(`${where}: no targets`);
        const refIds = (p.targets ?? []).map((t) => t.refId);
        if (new Set(refIds).size !== refIds.length)
          bad.push(`${where}: refIds not unique: ${refIds.join(",")}`);
        for (const t of p.targets ?? []) {
          if (!t.refId || t.rawQuery !== true || !t.query)
            bad.push(`${where} ${t.refId}: refId, rawQuery, query`);
          if (!["time_series", "table"].includes(t.resultFormat ?? ""))
            bad.push(`${where} ${t.refId}: resultFormat`);
          if (t.datasource?.uid !== DS_UID) bad.push(`${where} ${t.refId}: datasource`);
        }
      }
      for (const a of d.annotations?.list ?? [])
        if (a.datasource?.uid !== DS_UID) bad.push(`${file} › annotation ${a.name}: datasource`);
      for (const v of d.templating?.list ?? [])
        if (v.type === "query" && v.datasource?.uid !== DS_UID) bad.push(`${file} › $${v.name}: datasource`);
    }
    expect(bad).toEqual([]);
  });

  it("the provisioned datasource has the uid the dashboards use, and the dashboard provider a path", () => {
    const ds = parseYaml(readFileSync("grafana/provisioning/datasources/standby.yaml", "utf8")) as {
      apiVersion: number;
      datasources: { uid: string; type: string; access: string; jsonData: Record<string, string> }[];
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toHaveLength(1);
    expect(ds.datasources[0]).toMatchObject({
      uid: DS_UID,
      type: "influxdb",
      access: "proxy",
      jsonData: { dbName: DB, version: "InfluxQL", httpMode: "POST" },
    });
    const prov = parseYaml(readFileSync("grafana/provisioning/dashboards/standby.yaml", "utf8")) as {
      apiVersion: number;
      providers: { type: string; folder: string; options: { path: string } }[];
    };
    expect(prov.apiVersion).toBe(1);
    expect(prov.providers[0]).toMatchObject({ type: "file", folder: "standby" });
    expect(prov.providers[0]!.options.path).toMatch(/^\//);
  });

  it("name only measurements, tags and fields that exist (the collectors' catalogue, INFLUX-SCHEMA.md)", () => {
    const bad = parsed().flatMap(({ file, d }) =>
      queriesOf(file, d).flatMap((q) =>
        unknownNames(q.query).map((u) => `${q.dashboard} › ${q.panel} › ${q.refId}: ${u}`),
      ),
    );
    expect(bad).toEqual([]);
  });

  it("grafana/README.md names every panel", () => {
    const readme = readFileSync("grafana/README.md", "utf8");
    const unnamed = parsed().flatMap(({ file, d }) =>
      allPanels(d)
        .filter((p) => p.type !== "row" && !readme.includes(`| ${p.title} |`))
        .map((p) => `${file} › ${p.title}`),
    );
    expect(unnamed).toEqual([]);
  });

  it("every query substitutes (no variable left that Grafana would fill and this test does not)", () => {
    const vars = { host: ["h"], group: ["g"] };
    for (const { file, d } of parsed())
      for (const q of queriesOf(file, d))
        expect(() => substitute(q.query, vars), `${q.panel} ${q.refId}`).not.toThrow();
  });
});

// --- every query against a real influxd the real daemon wrote to ----------------------------------------------------
// etcdctl (etcd-client) revokes a lease in the run (grafana-daemon.ts).
const etcdctlMissing = () =>
  spawnSync("sh", ["-c", "command -v etcdctl"]).status !== 0
    ? "etcdctl is not installed (apt-get install etcd-client; scripts/test-deps.sh)"
    : undefined;
const missing = Influxd.missing() ?? snmpdMissing() ?? etcdMissing() ?? etcdctlMissing();
failInCiWhenMissing("grafana dashboards against the daemon's data in influxd", missing);

/** The overview's fleet row, and its annotation: their one-group run chooses the shared group. */
const FLEET_ROW = "Fleet (shared groups)";
const isFleet = (q: Query) => q.row === FLEET_ROW || q.panel.startsWith('annotation "Fleet');

/**
 * The measurements the dashboards query (every FROM) that the schema knows: the run waits for these. A misspelled
 * one is not waited for — its panels fail below, by name.
 */
const measurements = [
  ...new Set(
    parsed().flatMap(({ file, d }) =>
      queriesOf(file, d).flatMap((q) => [...q.query.matchAll(/\bFROM\s+"([^"]+)"/gi)].map((m) => m[1]!)),
    ),
  ),
]
  .filter((m) => SCHEMA[m] !== undefined)
  .sort();

describe.skipIf(missing !== undefined)("grafana dashboards against the daemon's data in influxd", () => {
  // Made in beforeAll: a skipped suite's body runs too, and would leave its temp dirs behind.
  let run: DashboardRun;
  let influxd: Influxd;

  beforeAll(async () => {
    run = new DashboardRun();
    influxd = run.influxd;
    await run.start(measurements);
    console.log(`the daemons' run:\n  ${run.log.join("\n  ")}`);
  }, 75_000);
  afterAll(async () => {
    await run?.stop();
  }, 30_000);

  it("the daemon staged what the panels show: a failover and a failback, rule changes, a failed PSU, a rebuild", async () => {
    const kinds = await run.q(
      `SELECT count("text") FROM "standby_event" WHERE "host" = '${HOST}' AND "group" = 'uplink' GROUP BY "kind"`,
    );
    expect(kinds.map((s) => s.tags!.kind)).toEqual(
      expect.arrayContaining(["failover", "failback", "health"]),
    );
    const changes = await run.q(
      `SELECT "prev", "state" FROM "standby_rule" WHERE "host" = '${HOST}' AND "rule" = 'gw-a-down' AND "prev" =~ /./`,
    );
    expect(changes[0]!.values.map((v) => `${v[1]}→${v[2]}`)).toEqual(
      expect.arrayContaining(["unknown→ok", "ok→firing"]),
    );
    const psu = await run.q(
      `SELECT last("state") FROM "ipmi.sensor" WHERE "host" = '${HOST}' AND "kind" = 'psu' GROUP BY "sensor"`,
    );
    expect(Object.fromEntries(psu.map((s) => [s.tags!.sensor, s.values[0]![1]]))).toEqual({
      "Power Supply 1": "failed",
      "Power Supply 2": "ok",
    });
    const sync = await run.q(`SELECT last("value") FROM "md.sync_percent" WHERE "host" = '${HOST}'`);
    expect(sync[0]!.values[0]![1]).toBe(19.6);
    const active = await run.q(
      `SELECT last("active") FROM "standby_group" WHERE "host" = '${HOST}' AND "group" = 'uplink'`,
    );
    expect(active[0]!.values[0]![1]).toBe("isp-a");
  });

  it("the fleet staged what the fleet row shows: a leader change (HOST, then EDGE), seen by both hosts, votes", async () => {
    const group = await run.q(
      `SELECT last("leader"), last("is_leader") FROM "standby_group" WHERE "group" = '${SHARED}' GROUP BY "host"`,
    );
    expect(Object.fromEntries(group.map((s) => [s.tags!.host, s.values[0]!.slice(1)]))).toEqual({
      [HOST]: [FLEET_NAME[EDGE], 0],
      [EDGE]: [FLEET_NAME[EDGE], 1],
    });
    const fence = await run.q(
      `SELECT last("fence") FROM "standby_group" WHERE "group" = '${SHARED}' AND "host" = '${EDGE}'`,
    );
    expect(fence[0]!.values[0]![1]).toMatch(/./);
    const votes = await run.q(
      `SELECT max("votes_unhealthy"), max("votes_healthy") FROM "standby_member" WHERE "group" = '${SHARED}' AND "host" = '${HOST}' GROUP BY "member"`,
    );
    expect(Object.fromEntries(votes.map((s) => [s.tags!.member, s.values[0]!.slice(1)]))).toEqual({
      "vip-1": [0, 2],
      "vip-2": [2, 0],
    });
    const events = await run.q(
      `SELECT "text" FROM "standby_event" WHERE "kind" =~ /^(leader|fleet)/ GROUP BY "host", "kind"`,
    );
    expect(events.map((s) => `${s.tags!.host} ${s.tags!.kind}`)).toEqual(
      expect.arrayContaining([
        `${EDGE} leader_elected`,
        `${HOST} leader_elected`,
        `${HOST} leader_lost`,
        `${HOST} fleet_unavailable`,
        `${HOST} fleet_available`,
      ]),
    );
    // The fleet row's panels show shared groups only: nothing for the local ones (no leader, no votes).
    const local = { host: [HOST, EDGE], group: ["db-vip", "uplink", "wan"] };
    for (const q of parsed()
      .flatMap(({ file, d }) => queriesOf(file, d))
      .filter((x) => x.row === FLEET_ROW))
      expect(await run.q(substitute(q.query, local)), q.panel).toEqual([]);
    // The fleet annotation shows the fleet's own events (no group tag) whatever $group is: here a local group.
    const anno = parsed()
      .flatMap(({ file, d }) => queriesOf(file, d))
      .find((q) => q.panel === 'annotation "Fleet: leaders and etcd"')!.query;
    const rows = await run.q(substitute(anno, { host: [HOST], group: ["uplink"] }));
    const kind = rows[0]!.columns.indexOf("kind");
    expect([...new Set(rows[0]!.values.map((v) => v[kind]))].sort()).toEqual([
      "fleet_available",
      "fleet_unavailable",
    ]);
  });

  it("panels the daemon's data changed: PSU power has the supplies' own wattage, Rule state changes no snapshots", async () => {
    const panel = (title: string) =>
      parsed()
        .flatMap(({ file, d }) => queriesOf(file, d))
        .find((q) => q.panel === title)!.query;
    const vars = { host: [HOST], group: ["uplink"] };
    const power = await run.q(substitute(panel("PSU power (IPMI)"), vars));
    expect(power.map((s) => s.tags!.sensor).sort()).toEqual([
      "Power Meter",
      "Power Supply 1",
      "Power Supply 2",
    ]);
    const rules = await run.q(substitute(panel("Rule state changes"), vars));
    const prev = rules[0]!.columns.indexOf("prev");
    const total = await run.q(`SELECT count("state") FROM "standby_rule" WHERE "host" = '${HOST}'`);
    expect(rules[0]!.values.every((v) => typeof v[prev] === "string")).toBe(true);
    expect(rules[0]!.values.length).toBeLessThan(Number(total[0]!.values[0]![1]));
  });

  it("what the daemon wrote follows the sink's README: known measurements, tags and field types", async () => {
    const bad: string[] = [];
    const fields = await influxd.query("SHOW FIELD KEYS", DB);
    const seen: Record<string, string[]> = {};
    for (const s of fields[0]?.series ?? []) {
      const m = SCHEMA[s.name];
      if (!m) {
        bad.push(`measurement ${s.name} is not in the schema`);
        continue;
      }
      seen[s.name] = (s.values as [string, string][]).map(([k]) => k).sort();
      for (const [key, type] of s.values as [string, string][])
        if (m.fields[key] !== type)
          bad.push(`${s.name}.${key}: ${type}, the schema says ${m.fields[key] ?? "no such field"}`);
    }
    const tags = await influxd.query("SHOW TAG KEYS", DB);
    for (const s of tags[0]?.series ?? [])
      for (const [key] of s.values as [string][])
        if (SCHEMA[s.name] && !SCHEMA[s.name]!.tags.includes(key) && !SCHEMA[s.name]!.anyTag)
          bad.push(`${s.name}: tag ${key} is not in the schema`);
    expect(bad).toEqual([]);
    // The sink's own measurements with every field the README lists (the run has rule changes and snapshots).
    for (const m of ["standby_group", "standby_member", "standby_rule", "standby_sink"])
      expect(seen[m], m).toEqual(Object.keys(SCHEMA[m]!.fields).sort());
  });

  it("every panel target, annotation and variable query returns series (one host and group, and All)", async () => {
    const failures: string[] = [];
    let ran = 0;
    for (const set of [
      { host: [HOST], group: ["uplink"] },
      { host: [HOST, EDGE], group: [...new Set([...GROUPS[HOST]!, ...GROUPS[EDGE]!])] },
    ])
      for (const { file, d } of parsed())
        for (const q of queriesOf(file, d)) {
          const vars = set.group.length === 1 && isFleet(q) ? { ...set, group: [SHARED] } : set;
          const text = substitute(q.query, vars);
          const why = await problem(influxd, text);
          ran++;
          if (why)
            failures.push(
              `${q.dashboard} › ${q.panel} › ${q.refId} (host ${vars.host.join("|")}): ${why}\n    ${text}`,
            );
        }
    expect(failures).toEqual([]);
    expect(ran).toBeGreaterThan(40);
  }, 60_000);

  it("the variables list what was written: $host every host (both dashboards), $group the chosen host's groups", async () => {
    const values = async (file: string, name: string, vars: Record<string, string[]>) => {
      const [d] = parsed().filter((x) => x.file === file);
      const v = d!.d.templating!.list!.find((x) => x.name === name)!;
      const r = await influxd.query(substitute(v.query as string, vars), DB);
      return (r[0]?.series ?? []).flatMap((s) => s.values.map((row) => row[1] as string)).sort();
    };
    const hosts = [EDGE, HOST].sort();
    expect(await values("standby-overview.json", "host", {})).toEqual(hosts);
    expect(await values("standby-components.json", "host", {})).toEqual(hosts);
    expect(await values("standby-overview.json", "group", { host: [HOST] })).toEqual(GROUPS[HOST]);
    expect(await values("standby-overview.json", "group", { host: [EDGE] })).toEqual(GROUPS[EDGE]);
  });

  it("a misspelled measurement or field yields no series: the check can fail", async () => {
    const [d] = parsed().filter(({ file }) => file === "standby-overview.json");
    const active = queriesOf("standby-overview.json", d!.d).find((q) => q.panel === "Active member")!;
    const good = substitute(active.query, { host: [HOST], group: ["uplink"] });
    expect(await problem(influxd, good)).toBeUndefined();
    const badMeasurement = good.replace('FROM "standby_group"', 'FROM "standby_gruop"');
    const badField = good.replace('last("active")', 'last("actve")');
    expect(badMeasurement).not.toBe(good);
    expect(badField).not.toBe(good);
    expect(await problem(influxd, badMeasurement)).toBe("no series");
    expect(await problem(influxd, badField)).toBe("no series");
    expect(unknownNames(badMeasurement)).toEqual([
      'measurement "standby_gruop" is neither a collector\'s metric nor in INFLUX-SCHEMA.md',
    ]);
    expect(unknownNames(badField)).toEqual(['"actve" is not a tag or field of "standby_group"']);
    expect(await problem(influxd, good.replace("SELECT", "SELEC"))).toMatch(/error parsing query/);
  });
});

/**
 * The Grafana dashboards (grafana/dashboards/*.json) without a Grafana: their structure (schema version, uids,
 * every panel's grid position and datasource, unique refIds, the provisioned datasource's uid), every measurement
 * and tag they name checked against the collectors' metric catalogue and INFLUX-SCHEMA.md, and every panel
 * target, annotation and template variable query run — `$timeFilter`, `$__interval` and the variables substituted
 * as Grafana does — against a real influxd filled by grafana-fill.ts: a query that errors or finds no series fails,
 * naming the dashboard, the panel, the refId and the query. Under CI=true a missing influxd fails the run.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { failInCiWhenMissing } from "../peers/ci.js";
import { Influxd } from "../peers/influxd.js";
import { type FillResult, fillStandbySchema } from "./grafana-fill.js";
import {
  allPanels,
  DB,
  DS_UID,
  dashboards,
  files,
  parsed,
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

// --- every query against a real influxd ---------------------------------------------------------------------------
const missing = Influxd.missing();
failInCiWhenMissing("grafana dashboards against influxd", missing);

describe.skipIf(missing !== undefined)("grafana dashboards against influxd", () => {
  const influxd = new Influxd();
  const fills: FillResult[] = [];

  beforeAll(async () => {
    await influxd.start();
    const now = Date.now();
    fills.push(
      await fillStandbySchema(influxd, {
        host: "web-01.example", // a dot: the regex must be escaped as Grafana does
        groups: [
          { name: "uplink", members: ["isp-a", "isp-b"] },
          { name: "db-vip", members: ["db-1", "db-2", "db-3"] },
        ],
        now,
      }),
      await fillStandbySchema(influxd, {
        host: "edge-02",
        groups: [{ name: "uplink", members: ["gw-1", "gw-2"] }],
        now,
      }),
    );
  }, 60_000);
  afterAll(() => influxd.destroy());

  it("the filled data follows INFLUX-SCHEMA.md: known measurements, tags and field types", async () => {
    const bad: string[] = [];
    const fields = await influxd.query("SHOW FIELD KEYS", DB);
    for (const s of fields[0]?.series ?? []) {
      const m = SCHEMA[s.name];
      if (!m) {
        bad.push(`measurement ${s.name} is not in the schema`);
        continue;
      }
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
  });

  it("every panel target, annotation and variable query returns series (one host and group, and All)", async () => {
    const hosts = fills.map((f) => f.host);
    const groups = [...new Set(fills.flatMap((f) => f.groups))];
    const failures: string[] = [];
    let ran = 0;
    for (const vars of [
      { host: [hosts[0]!], group: [groups[0]!] },
      { host: hosts, group: groups },
    ])
      for (const { file, d } of parsed())
        for (const q of queriesOf(file, d)) {
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
  }, 120_000);

  it("the variables list what was written: $host every host, $group the chosen host's groups", async () => {
    const [d] = parsed().filter(({ file }) => file === "standby-overview.json");
    const list = d!.d.templating!.list!;
    const values = async (name: string, vars: Record<string, string[]>) => {
      const v = list.find((x) => x.name === name)!;
      const r = await influxd.query(substitute(v.query as string, vars), DB);
      return (r[0]?.series ?? []).flatMap((s) => s.values.map((row) => row[1] as string)).sort();
    };
    expect(await values("host", {})).toEqual(["edge-02", "web-01.example"]);
    expect(await values("group", { host: ["web-01.example"] })).toEqual(["db-vip", "uplink"]);
    expect(await values("group", { host: ["edge-02"] })).toEqual(["uplink"]);
  });

  it("a misspelled measurement or field yields no series: the check can fail", async () => {
    const [d] = parsed().filter(({ file }) => file === "standby-overview.json");
    const active = queriesOf("standby-overview.json", d!.d).find((q) => q.panel === "Active member")!;
    const good = substitute(active.query, { host: ["web-01.example"], group: ["uplink"] });
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

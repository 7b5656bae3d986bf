/**
 * Docs that cannot drift: every `yaml` block of every README goes through the real config loader, each
 * collector's README starts with its `sample.yaml`, and its metrics table lists exactly its metric catalogue.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { COLLECTORS } from "../../collectors/index.js";
import { formatError, loadConfig, loadConfigText, loadRuleFileText } from "../../src/config/load.js";

const DOCS = [
  "README.md",
  "src/actions/README.md",
  ...readdirSync("docs").map((f) => `docs/${f}`),
  ...COLLECTORS.map((c) => `collectors/${c.type}/README.md`),
].filter((f) => f.endsWith(".md"));

const CONFIG_KEYS = new Set([
  "host",
  "state_dir",
  "rules",
  "collectors",
  "groups",
  "notify",
  "sinks",
  "api",
  "cluster",
]);

/** The ```yaml blocks of a markdown file, with the line each starts on. */
function yamlBlocks(file: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```yaml") continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && lines[j]!.trim() !== "```") j++;
    out.push({ line: start + 1, text: `${lines.slice(start, j).join("\n")}\n` });
    i = j;
  }
  return out;
}

/** Checks one block as what it is: a config, a rule file, or a member's actions. */
async function check(text: string, where: string): Promise<string[]> {
  const data = parse(text) as Record<string, unknown>;
  const keys = Object.keys(data ?? {});
  const dir = mkdtempSync(join(tmpdir(), "sb-docs-"));
  if (keys.length === 1 && keys[0] === "rules") {
    const r = loadRuleFileText(text, where);
    return r.ok ? [] : r.errors.map(formatError);
  }
  if (keys.every((k) => k === "activate" || k === "deactivate")) {
    const member = text.replace(/^/gm, "        ");
    const wrapped = `groups:\n  - name: g\n    members:\n      - name: m\n        priority: 1\n${member}`;
    const r = await loadConfigText(wrapped, join(dir, "standby.yaml"));
    return r.ok ? [] : r.errors.map(formatError);
  }
  if (keys.length > 0 && keys.every((k) => CONFIG_KEYS.has(k))) {
    const r = await loadConfigText(text, join(dir, "standby.yaml"));
    return r.ok ? (r.warnings ?? []).map(formatError) : r.errors.map(formatError);
  }
  return [
    `${where}: a yaml block of an unknown shape (keys ${keys.join(", ")}): say what it is in docs.test.ts`,
  ];
}

describe("docs", () => {
  const blocks = DOCS.flatMap((file) => yamlBlocks(file).map((b) => ({ file, ...b })));
  it("have yaml blocks to check", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });
  it.each(blocks.map((b) => [`${b.file}:${b.line}`, b] as const))("%s loads", async (where, b) => {
    expect(await check(b.text, where)).toEqual([]);
  });
});

describe.each(COLLECTORS.map((c) => [c.type, c] as const))("collector %s", (type, def) => {
  const readme = readFileSync(`collectors/${type}/README.md`, "utf8");
  const blocks = yamlBlocks(`collectors/${type}/README.md`);

  it("README starts with its config block, which is sample.yaml, and it loads without a warning", async () => {
    const sample = readFileSync(`collectors/${type}/sample.yaml`, "utf8");
    expect(blocks[0]?.text).toBe(sample);
    const r = await loadConfig(`collectors/${type}/sample.yaml`);
    expect(r.ok ? (r.warnings ?? []).map(formatError) : r.errors.map(formatError)).toEqual([]);
    expect(r.ok && r.config.collectors.every((c) => c.type === type)).toBe(true);
  });

  it("its example rules, with its sample config, draw no warning from the metric catalogue", async () => {
    const rules = blocks.filter((b) => Object.keys(parse(b.text) ?? {}).join() === "rules");
    expect(rules.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), "sb-docs-"));
    for (const [i, b] of rules.entries()) writeFileSync(join(dir, `rules-${i}.yaml`), b.text);
    const config = `rules: [rules-*.yaml]\n${readFileSync(`collectors/${type}/sample.yaml`, "utf8")}`;
    const r = await loadConfigText(config, join(dir, "standby.yaml"));
    expect(r.ok ? (r.warnings ?? []).map(formatError) : r.errors.map(formatError)).toEqual([]);
  });

  it("README's metrics table lists exactly the metric catalogue, with its labels", () => {
    const section = readme.slice(
      readme.indexOf("## Metrics"),
      readme.indexOf("\n## ", readme.indexOf("## Metrics") + 3),
    );
    const rows = section.split("\n").filter((l) => l.startsWith("|"));
    const tables: string[][][] = [];
    for (const row of rows) {
      const cells = row
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      if (cells.every((c) => /^-+$/.test(c))) continue;
      if (["metric", "label"].includes(cells[0]!)) tables.push([cells]);
      else tables.at(-1)?.push(cells);
    }
    const ticks = (cell: string | undefined) => [...(cell ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const metricTable = tables.find((t) => t[0]![0] === "metric");
    expect(metricTable, "a | metric | ... | table under ## Metrics").toBeDefined();
    const documented = new Map<string, string[]>();
    const labelCol = metricTable![0]!.findIndex((h) => /labels/.test(h));
    for (const row of metricTable!.slice(1)) {
      for (const name of ticks(row[0]))
        documented.set(name, labelCol >= 0 ? ticks(row[labelCol]).filter((l) => !/^(rx|tx)$/.test(l)) : []);
    }
    expect([...documented.keys()].sort()).toEqual(def.metrics.map((m) => m.name).sort());
    const labelTable = tables.find((t) => t[0]![0] === "label");
    for (const m of def.metrics) {
      const labels =
        labelCol >= 0
          ? documented.get(m.name)
          : labelTable!
              .slice(1)
              .flatMap((r) => ticks(r[0]))
              .filter((l) => l !== "host" && l !== "collector");
      expect([...(labels ?? [])].sort(), m.name).toEqual([...m.labels].sort());
    }
  });
});

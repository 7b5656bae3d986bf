/**
 * The `md` collector: Linux software RAID arrays, read from /proc/mdstat (or ROOT/proc/mdstat with `root`). It
 * only observes; rules decide. See README.md for the metrics and the state mapping; parse.ts is the pure parser.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CollectorContext, PollCollector } from "../../src/collector.js";
import { labelsOf, stateSample } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { codeOrMessage, errorMessage } from "../../src/util/errors.js";
import type { MdCollectorSpec } from "./config.js";
import {
  arrayHealth,
  deviceCounts,
  MD_ROLES,
  MD_STATES,
  type MdArray,
  type MdRole,
  type MdState,
  mdState,
  parseMdstat,
} from "./parse.js";

/** Distinct problems logged (each once); more are still counted. */
const MAX_LOGGED = 256;

/** The label objects of one array (built once, reused every run: the engine's identity cache hits). */
interface ArrayLabels {
  readonly array: Labels;
  readonly state: Readonly<Record<MdState, Labels>>;
  readonly role: Readonly<Record<MdRole, Labels>>;
}

export class MdCollector implements PollCollector {
  readonly kind = "poll";
  readonly name: string;
  readonly interval: number;
  readonly timeout: number;
  /** The file read: ROOT/proc/mdstat. */
  readonly file: string;
  /** Lines skipped because they could not be parsed, over all runs. */
  unparsedLines = 0;
  /** Runs whose read of the file failed (a missing file included). */
  readFailures = 0;
  private readonly base: Labels;
  private readonly labels = new Map<string, ArrayLabels>();
  private readonly logged = new Set<string>();
  /** The read error last logged (logged again only after a successful read). */
  private readError: string | undefined;

  constructor(
    readonly spec: MdCollectorSpec,
    private readonly ctx: CollectorContext,
  ) {
    this.name = spec.name;
    this.interval = spec.interval;
    this.timeout = spec.timeout;
    this.file = join(spec.root ?? "/", "proc", "mdstat");
    this.base = labelsOf({ host: ctx.host, collector: spec.name });
  }

  async collect(signal: AbortSignal): Promise<Sample[]> {
    const ts = this.ctx.now();
    let text: string;
    try {
      text = await readFile(this.file, { encoding: "utf8", signal });
    } catch (err) {
      signal.throwIfAborted();
      this.readFailed(err);
      return [];
    }
    if (this.readError !== undefined) {
      this.ctx.log.info({ collector: this.name, file: this.file }, `md: ${this.file} is readable again`);
      this.readError = undefined;
    }
    const { arrays, unparsed } = parseMdstat(text);
    this.unparsedLines += unparsed.length;
    for (const u of unparsed) {
      // One log line per distinct problem: the same line with other numbers (a progress) is the same problem.
      const key = `${u.reason}\0${u.text.trim().replace(/\d+/g, "0")}`;
      if (this.logged.has(key) || this.logged.size >= MAX_LOGGED) continue;
      this.logged.add(key);
      this.ctx.log.warn(
        { collector: this.name, file: this.file, line: u.line, text: u.text.slice(0, 200) },
        `md: skipping ${u.reason} (logged once, counted after)`,
      );
    }
    const out: Sample[] = [];
    const seen = new Set<string>();
    for (const a of arrays) {
      const key = `${a.name}\0${a.level}`;
      seen.add(key);
      this.samples(a, this.labelsFor(key, a), ts, out);
    }
    for (const k of this.labels.keys()) if (!seen.has(k)) this.labels.delete(k);
    return out;
  }

  private samples(a: MdArray, l: ArrayLabels, ts: number, out: Sample[]): void {
    out.push(stateSample("md.array", l.array, arrayHealth(a), ts));
    const state = mdState(a);
    for (const s of MD_STATES)
      out.push({ metric: "md.state", labels: l.state[s], value: s === state ? 1 : 0, ts });
    const counts = deviceCounts(a);
    for (const r of MD_ROLES) out.push({ metric: "md.devices", labels: l.role[r], value: counts[r], ts });
    if (a.sync) out.push({ metric: "md.sync_percent", labels: l.array, value: a.sync.percent, ts });
  }

  private labelsFor(key: string, a: MdArray): ArrayLabels {
    let l = this.labels.get(key);
    if (!l) {
      const array = labelsOf(this.base, { array: a.name, level: a.level });
      const by = <K extends string>(keys: readonly K[], label: string) =>
        Object.fromEntries(keys.map((k) => [k, labelsOf(array, { [label]: k })])) as Record<K, Labels>;
      l = { array, state: by(MD_STATES, "state"), role: by(MD_ROLES, "role") };
      this.labels.set(key, l);
    }
    return l;
  }

  /** A missing /proc/mdstat (no md driver) or an unreadable one: no samples, one log line until it is read again. */
  private readFailed(err: unknown): void {
    this.readFailures++;
    const code = codeOrMessage(err);
    if (this.readError === code) return;
    this.readError = code;
    if (code === "ENOENT") {
      this.ctx.log.warn(
        { collector: this.name, file: this.file },
        `md: no ${this.file} (the md driver is not loaded, or there is no such root); no md samples until it appears`,
      );
    } else {
      this.ctx.log.warn(
        { collector: this.name, file: this.file, err: errorMessage(err) },
        `md: cannot read ${this.file}; no md samples until it can be read (logged once)`,
      );
    }
  }
}

/** The collector of one `md` config block. */
export function createMdCollector(spec: MdCollectorSpec, ctx: CollectorContext): MdCollector {
  return new MdCollector(spec, ctx);
}

/**
 * The collector's series: label objects built once per series and reused across polls (the engine's identity
 * cache keys on the object), the component-state series each profile reported at its last good poll (reported
 * `unknown` while the agent does not answer), and the labels the trap receiver asks for by (metric, row index).
 */
import { labelsOf, stateSample } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import type { ComponentState } from "../../src/states.js";
import type { Out, Profile } from "./profiles/types.js";

interface StateSeries {
  readonly metric: string;
  readonly labels: Labels;
}

/** One profile's view of the last good poll. */
interface ProfileSeries {
  states: StateSeries[];
  byIndex: Map<string, Labels>;
}

/** Label objects kept for rows no poll has seen (traps only). */
const EARLY_MAX = 10_000;

const key2 = (metric: string, index: string) => `${metric}\0${index}`;

export class Series {
  private readonly cache = new Map<string, Labels>();
  private readonly last = new Map<string, ProfileSeries>();
  /** The labels before the first poll saw a row: the collector's labels and the index alone. */
  private readonly early = new Map<string, Labels>();

  constructor(
    private readonly base: Labels,
    private readonly profiles: readonly Profile[],
  ) {}

  /** The cached label object for `key`, unless a label changed (an interface renamed): then a new one. */
  labels(key: string, extra: Readonly<Record<string, string>>): Labels {
    const had = this.cache.get(key);
    if (had && sameExtra(had, this.base, extra)) return had;
    const l = labelsOf(this.base, extra);
    this.cache.set(key, l);
    return l;
  }

  /** A poll of one profile: its `Out`, and `commit` once it succeeded (its series become the last good ones). */
  begin(profile: Profile, ts: number, samples: Sample[]): { out: Out; commit(): void } {
    const states: StateSeries[] = [];
    const byIndex = new Map<string, Labels>();
    const prefix = `${profile.name}\0`;
    const out: Out = {
      labels: (key, extra) => this.labels(prefix + key, extra),
      state: (metric, index, labels, state: ComponentState) => {
        samples.push(stateSample(metric, labels, state, ts));
        states.push({ metric, labels });
        if (index !== undefined) byIndex.set(key2(metric, index), labels);
      },
      number: (metric, labels, value, index) => {
        if (!Number.isFinite(value)) return;
        samples.push({ metric, labels, value, ts });
        if (index !== undefined) byIndex.set(key2(metric, index), labels);
      },
    };
    return { out, commit: () => this.last.set(profile.name, { states, byIndex }) };
  }

  /** The component-state series of a profile's last good poll, as `unknown` samples. */
  unknown(profile: Profile, ts: number): Sample[] {
    return (this.last.get(profile.name)?.states ?? []).map((s) =>
      stateSample(s.metric, s.labels, "unknown", ts),
    );
  }

  /** For the trap receiver: the poll's own label object of (metric, row), or the index alone before a poll saw it. */
  labelsFor(metric: string, index: string): Labels | undefined {
    for (const p of this.last.values()) {
      const l = p.byIndex.get(key2(metric, index));
      if (l) return l;
    }
    const label = this.profiles.find((p) => p.indexed[metric] !== undefined)?.indexed[metric];
    if (label === undefined) return undefined;
    const k = key2(metric, index);
    let l = this.early.get(k);
    if (!l) {
      // Traps may name any index: keep this cache bounded.
      if (this.early.size >= EARLY_MAX) this.early.clear();
      this.early.set(k, (l = labelsOf(this.base, { [label]: index })));
    }
    return l;
  }
}

function sameExtra(had: Labels, base: Labels, extra: Readonly<Record<string, string>>): boolean {
  let n = 0;
  for (const [k, v] of Object.entries(extra)) {
    if (had[k] !== v) return false;
    n++;
  }
  return Object.keys(had).length === Object.keys(base).length + n;
}

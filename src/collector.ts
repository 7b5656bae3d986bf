import type { Labels, Sample } from "./engine/types.js";
import { COMPONENT_STATES, type ComponentState } from "./states.js";

/** What the daemon gives every collector. */
export interface CollectorContext {
  /** The `host` label every sample carries. */
  readonly host: string;
  /** The monotonic clock in ms (epoch-like, never steps; see src/util/clock.ts): sample timestamps. */
  readonly now: () => number;
  /** Structured log: `log.warn({err, target}, "message")`. */
  readonly log: Log;
  /**
   * Whether a device the collector reads answers: `error` when it stopped (a BMC, an SNMP agent; the reason in
   * words, naming the target, never a secret), undefined when it answers. The daemon records a `collector` event
   * when that changes. Call it after every attempt; repeating the same state costs nothing.
   */
  readonly report?: (target: string, error: string | undefined) => void;
}

export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * A collector only observes: it reads a device or the OS and returns samples; it never decides.
 * Two shapes:
 * - `poll`: the scheduler calls `collect` every `interval` (with jitter) and aborts `signal` at `timeout`;
 *   a run that fails or hangs never stalls other collectors, its metrics just go stale.
 * - `stream`: started once, emits as things happen (a long-running `fping`, `ip monitor link`, SNMP traps)
 *   until `signal` aborts; it restarts what it runs when that dies.
 */
export type Collector = PollCollector | StreamCollector;

export interface PollCollector {
  readonly kind: "poll";
  readonly name: string;
  /** ms */
  readonly interval: number;
  /** ms; each run's signal aborts then. */
  readonly timeout: number;
  collect(signal: AbortSignal): Promise<Sample[]>;
  close?(): Promise<void>;
}

export interface StreamCollector {
  readonly kind: "stream";
  readonly name: string;
  start(emit: (samples: Sample[]) => void, signal: AbortSignal): void;
  /** Its own counters (a trap receiver's received, rejected, malformed…), shown by `standby status`. */
  counters?(): Readonly<Record<string, number>>;
}

/** Label objects built once per series, so the engine's identity cache hits (see src/engine/engine.ts). */
export function labelsOf(base: Labels, extra: Labels = {}): Labels {
  return Object.freeze({ ...base, ...extra });
}

/** One metric a collector emits, for its catalogue (`standby check` warnings, README tables). */
export interface MetricInfo {
  readonly name: string;
  /** Labels beyond `host` and `collector`, which every sample carries. */
  readonly labels: readonly string[];
  readonly help: string;
}

/** A component-state sample: `value` is the state's number (0 ok … −1 unknown), `state` the word. */
export function stateSample(metric: string, labels: Labels, state: ComponentState, ts: number): Sample {
  return { metric, labels, value: COMPONENT_STATES[state].value, state, ts };
}

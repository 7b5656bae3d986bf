/**
 * The `probe` collector: is a target reachable over this path, and how fast? One probe every `interval`, one
 * `probe.success` (1 answered, 0 lost) and, when answered, one `probe.rtt_ms` per probe. Kinds: `icmp` (one
 * long-running fping, or ping without it), `tcp` (a connect) and `http` (a GET). It only observes; rules
 * decide. See README.md.
 */
import { isIP } from "node:net";
import { performance } from "node:perf_hooks";
import type { CollectorContext, StreamCollector } from "../../src/collector.js";
import { labelsOf } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { redactUrl } from "../../src/util/url.js";
import type { ProbeCollectorSpec } from "./config.js";
import { IcmpRunner, icmpTimeout, newStats, type ProbeStats } from "./icmp.js";
import {
  type Attempt,
  type AttemptResult,
  httpAttempt,
  parseHostPort,
  runTicker,
  tcpAttempt,
} from "./socket.js";

export { fpingArgs, icmpTimeout, type ProbeStats, pingArgs } from "./icmp.js";

/** Every metric this collector emits. */
export const PROBE_METRICS = ["probe.success", "probe.rtt_ms"] as const;

export interface ProbeCollectorOptions {
  /**
   * argv prefix that runs fping; the probe's arguments are appended. Default `["fping"]`. The program must
   * exec in place so that signals reach the prober itself: tests probe from a network namespace with
   * `["ip", "netns", "exec", NS, "fping"]`, a VRF would use `["ip", "vrf", "exec", VRF, "fping"]`.
   */
  readonly fpingCommand?: readonly string[];
  /** The same for the ping fallback (used when fpingCommand[0] is not found). Default `["ping"]`. */
  readonly pingCommand?: readonly string[];
  /** Restart delays of a dead probe program: from `min`, doubling to `max`, ms. Default 1000 to 30000. */
  readonly backoff?: { readonly min: number; readonly max: number };
}

/** A probe collector, with its counters (see ProbeStats) for status pages and tests. */
export interface ProbeCollector extends StreamCollector {
  readonly stats: Readonly<ProbeStats>;
}

/** A probe block the collector cannot run (the schema accepts more than a probe can do). */
export class ProbeConfigError extends Error {
  override readonly name = "ProbeConfigError";
}

export { redactUrl };

/**
 * The collector of one `probe` config block. Throws ProbeConfigError for a block it cannot run: an `interface`
 * on a tcp or http probe (Node cannot bind a socket to a device; give `source`, an address of it), a `source`
 * that is not an IP address, a target it cannot parse or that starts with `-`.
 */
export function createProbeCollector(
  spec: ProbeCollectorSpec,
  ctx: CollectorContext,
  options: ProbeCollectorOptions = {},
): ProbeCollector {
  const { kind, target, source } = spec.probe;
  const iface = spec.probe.interface;
  const fail = (msg: string): never => {
    throw new ProbeConfigError(`probe ${spec.name}: ${msg}`);
  };
  if (source !== undefined && isIP(source) === 0) {
    fail(
      `source ${JSON.stringify(source)} is not an IP address; give an address of this host (a device goes in \`interface\`)`,
    );
  }
  if (kind !== "icmp" && iface !== undefined) {
    fail(
      `\`interface\` works only with kind icmp; a ${kind} probe binds with \`source\` (an address of ${iface})`,
    );
  }
  if (target.startsWith("-")) fail(`target ${JSON.stringify(target)} must not start with "-"`);

  const stats = newStats();
  const labels: Labels = labelsOf({
    host: ctx.host,
    collector: spec.name,
    kind,
    target: kind === "http" ? redactUrl(target) : target,
  });
  let emit: ((samples: Sample[]) => void) | undefined;
  let lastEmitError = Number.NEGATIVE_INFINITY;
  const report = (ok: boolean, rtt: number | undefined): void => {
    if (!emit) return;
    const ts = ctx.now();
    const success: Sample = { metric: "probe.success", labels, value: ok ? 1 : 0, ts };
    try {
      emit(
        ok && rtt !== undefined ? [success, { metric: "probe.rtt_ms", labels, value: rtt, ts }] : [success],
      );
    } catch (err) {
      // A consumer's bug must not kill the probe (this runs inside a pipe or socket callback).
      if (performance.now() - lastEmitError >= 60_000) {
        lastEmitError = performance.now();
        ctx.log.error(
          { collector: spec.name, err: err instanceof Error ? err.message : String(err) },
          `probe ${spec.name}: the sample consumer threw; probing goes on`,
        );
      }
    }
  };

  let run: (signal: AbortSignal) => void;
  if (kind === "icmp") {
    const runner = new IcmpRunner({
      name: spec.name,
      settings: {
        target,
        source,
        iface,
        interval: spec.interval,
        timeout: icmpTimeout(spec.interval, spec.timeout),
      },
      fpingCommand: nonEmpty(options.fpingCommand, ["fping"]),
      pingCommand: nonEmpty(options.pingCommand, ["ping"]),
      backoff: options.backoff ?? { min: 1000, max: 30_000 },
      log: ctx.log,
      stats,
      onResult: report,
    });
    run = (signal) => runner.start(signal);
  } else {
    let attempt: Attempt;
    if (kind === "tcp") {
      const hp = parseHostPort(target);
      if (!hp)
        return fail(
          `target ${JSON.stringify(target)} is not HOST:PORT; a tcp probe expects e.g. 10.0.0.1:443`,
        );
      attempt = tcpAttempt(hp.host, hp.port, source);
    } else {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        return fail(
          `target ${JSON.stringify(redactUrl(target))} is not a URL; an http probe expects e.g. http://10.0.0.1/health`,
        );
      }
      if (url.protocol !== "http:" && url.protocol !== "https:")
        fail(`target must be an http:// or https:// URL`);
      attempt = httpAttempt(url, source);
    }
    const shown = labels.target!;
    let failing: string | undefined;
    let lastLog = Number.NEGATIVE_INFINITY;
    const onResult = (r: AttemptResult): void => {
      stats.probes++;
      if (!r.ok) stats.lost++;
      // Log changes only (first failure, a new reason, recovery), at most one line per 10 s.
      const state = r.ok ? undefined : (r.error ?? "failed");
      if (state !== failing && performance.now() - lastLog >= 10_000) {
        lastLog = performance.now();
        if (state !== undefined) {
          ctx.log.info(
            { collector: spec.name, target: shown, error: state },
            `probe ${spec.name}: ${kind} ${shown} fails: ${state}`,
          );
        } else {
          ctx.log.info(
            { collector: spec.name, target: shown },
            `probe ${spec.name}: ${kind} ${shown} answers again`,
          );
        }
        failing = state;
      }
      report(r.ok, r.rtt);
    };
    run = (signal) => runTicker(spec.interval, spec.timeout, signal, attempt, onResult);
  }

  let started = false;
  return {
    kind: "stream",
    name: spec.name,
    stats,
    start(emitFn, signal) {
      if (started)
        throw new Error(`probe ${spec.name}: already started; create a new collector to start again`);
      started = true;
      emit = emitFn;
      run(signal);
    },
  };
}

function nonEmpty(cmd: readonly string[] | undefined, fallback: readonly string[]): readonly string[] {
  return cmd && cmd.length > 0 ? cmd : fallback;
}

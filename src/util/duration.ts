/** Durations (`250ms`, `3s`, `5m`, `1h`, `1d`, or combined `1m30s`) and spans (a duration or `N samples`). */

export type Span =
  | { readonly kind: "time"; readonly ms: number }
  | { readonly kind: "samples"; readonly n: number };

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const SAMPLES_RE = /^(\d+)\s*samples?$/;

/** Parses a duration to milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === "0") return 0;
  if (!DURATION_RE.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(PART_RE)) ms += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  return Math.round(ms);
}

/** Parses `5s` or `3 samples`; undefined when it is neither. */
export function parseSpan(text: string): Span | undefined {
  const t = text.trim();
  const s = SAMPLES_RE.exec(t);
  if (s) {
    const n = Number(s[1]);
    return n >= 1 ? { kind: "samples", n } : undefined;
  }
  const ms = parseDuration(t);
  return ms === undefined ? undefined : { kind: "time", ms };
}

/** Formats milliseconds the way users write them (`1m30s`, `250ms`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0) parts.push(`${Number(s.toFixed(3))}s`);
  return parts.join("");
}

/**
 * Formats a time the daemon measured on its own clock (how long a member has been healthy, a series silent): its
 * timers fire a few ms after their deadline, so from 10 s on it is shown in whole seconds, rounded down — "healthy
 * for 30s (hold 30s)", not "30.001s". Below 10 s as formatDuration (a 1.5 s hold is shown as 1.5s).
 */
export function formatElapsed(ms: number): string {
  return formatDuration(ms >= 10_000 ? Math.floor(ms / 1000) * 1000 : ms);
}

export function formatSpan(span: Span): string {
  return span.kind === "samples" ? `${span.n} samples` : formatDuration(span.ms);
}

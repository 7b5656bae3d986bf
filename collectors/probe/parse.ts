/**
 * Pure parsing of what the ICMP probe programs print, one line at a time, as captured on Debian 12 (fixtures in
 * collectors/probe/testcases/, made by its capture.sh):
 *
 * - fping 5.1, `fping -l -p P -t T -e TARGET`. stdout, one line per probe, in sequence order:
 *     `10.201.0.2 : [5], 64 bytes, 0.056 ms (0.050 avg, 0% loss)`
 *     `10.201.0.2 : [6], timed out (0.050 avg, 14% loss)`            (printed when the timeout expires)
 *   stderr: ICMP errors (`ICMP Host Unreachable from 10.201.0.1 for ICMP Echo sent to 10.201.0.9`, without a
 *   sequence number; the probe still gets its `timed out` line), start-up errors, the summary on SIGINT.
 *   A probe whose send fails (no route: ENETUNREACH) prints NOTHING: its number is simply missing.
 * - iputils ping 20221126, `ping -n -i S -W S -O -D TARGET`. stdout:
 *     `[1795643710.585014] 64 bytes from 10.201.0.2: icmp_seq=5 ttl=64 time=0.052 ms`
 *     `[1795643710.792931] no answer yet for icmp_seq=6`            (printed when the NEXT probe is sent)
 *     `[1795643719.553290] From 10.201.0.1 icmp_seq=1 Destination Host Unreachable`
 *   Replies may come after their `no answer yet` (a link that comes back flushes its queue: `time=1016 ms`);
 *   the same `no answer yet` may come twice (a failed send is retried with the same number). stderr: send
 *   errors (`ping: sendmsg: No buffer space available`) and start-up errors.
 *
 * Nothing here knows about time or processes; the collector (index.ts, icmp.ts) decides what a line means
 * for a probe (sequence.ts drops duplicates and late answers).
 */

/** What one output line says. */
export type ProbeLine =
  /** An echo reply to probe `seq` after `rtt` ms (`duplicate`: ping's `(DUP!)`, fping's `duplicate for`). */
  | { readonly kind: "reply"; readonly seq: number; readonly rtt: number; readonly duplicate: boolean }
  /** Probe `seq` got no reply in time (fping `timed out`, ping `no answer yet`). */
  | { readonly kind: "timeout"; readonly seq: number }
  /**
   * An ICMP error about one of our probes, from `from`: `message` is e.g. `ICMP Host Unreachable` (fping,
   * which does not say which probe) or `Destination Host Unreachable` (ping, with `seq`).
   */
  | { readonly kind: "icmp-error"; readonly from: string; readonly message: string; readonly seq?: number }
  /** A line that carries no probe result: ping's header, the closing summaries, blank lines. */
  | { readonly kind: "info" };

const INFO: ProbeLine = Object.freeze({ kind: "info" });

/** `[1764100000.12345] ` as fping -D and ping -D put before a line. */
const STAMP = String.raw`(?:\[\d+(?:\.\d+)?\]\s+)?`;
/** A number as fping's sprint_tm and ping print a time: `0.056`, `3.45`, `29.8`, `1016`, `1.234e+06`. */
const MS = String.raw`(\d+(?:\.\d+)?(?:e[+-]?\d+)?)`;

const FPING_REPLY = new RegExp(`^${STAMP}\\S+\\s+:\\s+\\[(\\d+)\\],\\s+\\d+ bytes,\\s+${MS} ms(?:\\s|$)`);
const FPING_TIMEOUT = new RegExp(`^${STAMP}\\S+\\s+:\\s+\\[(\\d+)\\],\\s+timed out(?:\\s|$)`);
const FPING_DUPLICATE = new RegExp(
  `^${STAMP}\\S+\\s+:\\s+duplicate for \\[(\\d+)\\],\\s+\\d+ bytes,\\s+${MS} ms`,
);
const FPING_ICMP = /^(ICMP .+?) from (\S+) for ICMP Echo sent to \S+$/;
/** `127.0.0.1 : xmt/rcv/%loss = 10/10/0%, min/avg/max = ...` (stderr, on SIGINT or SIGQUIT). */
const FPING_SUMMARY = /^\S+\s+:\s+xmt\/rcv\/%(?:loss|return) = /;
/** `[12:00:01]`: the clock line before a SIGQUIT summary. */
const FPING_CLOCK = /^\[\d\d:\d\d:\d\d\]$/;
/**
 * fping writes ` [<- ADDR]` (a reply from another address than the target) to stderr without a newline while
 * the rest of the reply goes to stdout, so these fragments prefix whatever stderr line comes next.
 */
const FPING_OTHER_SOURCE = /^(?:\s*\[<- [^\]]*\])+\s*/;

const PING_REPLY = new RegExp(
  `^${STAMP}\\d+ bytes from .+?: icmp_seq=(\\d+)(?: ttl=\\d+)? time=${MS} ms(?:\\s+\\(DUP!\\))?`,
);
const PING_NO_ANSWER = new RegExp(`^${STAMP}no answer yet for icmp_seq=(\\d+)\\s*$`);
const PING_ICMP = new RegExp(`^${STAMP}From (\\S+?)(?: \\(\\S+\\))?:? icmp_seq=(\\d+) (.+?)\\s*$`);
const PING_INFO = [
  /^PING \S+ \(/, // PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
  /^--- .* ping statistics ---$/,
  /^\d+ packets transmitted, /,
  /^(?:rtt|round-trip) min\/avg\/max/,
];

function num(s: string | undefined): number {
  return s === undefined ? Number.NaN : Number(s);
}

/** A result line whose numbers do not parse is not a result. */
function reply(seq: number, rtt: number, duplicate: boolean): ProbeLine | undefined {
  if (!Number.isSafeInteger(seq) || !Number.isFinite(rtt) || rtt < 0) return undefined;
  return { kind: "reply", seq, rtt, duplicate };
}

function timeout(seq: number): ProbeLine | undefined {
  return Number.isSafeInteger(seq) ? { kind: "timeout", seq } : undefined;
}

/**
 * One line of `fping -l -e` output (stdout or stderr, without the newline); `undefined` when it is not a line
 * this parser knows (start-up errors such as `fping: cannot bind source address : ...` are such lines).
 */
export function parseFpingLine(line: string): ProbeLine | undefined {
  const text = line.replace(FPING_OTHER_SOURCE, "").trimEnd();
  if (text === "") return INFO;
  let m = FPING_REPLY.exec(text);
  if (m) return reply(num(m[1]), num(m[2]), false);
  m = FPING_TIMEOUT.exec(text);
  if (m) return timeout(num(m[1]));
  m = FPING_ICMP.exec(text);
  if (m) return { kind: "icmp-error", from: m[2]!, message: m[1]! };
  m = FPING_DUPLICATE.exec(text);
  if (m) return reply(num(m[1]), num(m[2]), true);
  if (FPING_SUMMARY.test(text) || FPING_CLOCK.test(text)) return INFO;
  return undefined;
}

/**
 * One line of iputils `ping -n -O -D` output (stdout or stderr, without the newline); `undefined` when it is
 * not a line this parser knows (`ping: sendmsg: ...`, `ping: bind: ...` are such lines).
 */
export function parsePingLine(line: string): ProbeLine | undefined {
  const text = line.trimEnd();
  if (text === "") return INFO;
  let m = PING_REPLY.exec(text);
  if (m) return reply(num(m[1]), num(m[2]), text.endsWith("(DUP!)"));
  m = PING_NO_ANSWER.exec(text);
  if (m) return timeout(num(m[1]));
  m = PING_ICMP.exec(text);
  if (m) {
    const seq = num(m[2]);
    if (!Number.isSafeInteger(seq)) return undefined;
    return { kind: "icmp-error", from: m[1]!, message: m[3]!, seq };
  }
  if (PING_INFO.some((re) => re.test(text))) return INFO;
  return undefined;
}

/** What the ICMP probe programs are given: fping's and ping's arguments, the timeout, the probe statistics. */

export type IcmpTool = "fping" | "ping";

/** What an ICMP probe sends, already validated. */
export interface IcmpSettings {
  readonly target: string;
  readonly source?: string | undefined;
  readonly iface?: string | undefined;
  /** ms between probes */
  readonly interval: number;
  /** ms a probe waits for its reply; below `interval` (see icmpTimeout) */
  readonly timeout: number;
}

/** Counters of one probe collector, for status pages and tests. */
export interface ProbeStats {
  /** Probes reported (answered + lost). */
  probes: number;
  /** Probes reported lost (timed out, refused, unreachable, inferred). */
  lost: number;
  /** Losses inferred because the program printed nothing about a probe in time (icmp). */
  inferred: number;
  /** Result lines about probes already reported: duplicates, replies after their `no answer yet` (icmp). */
  late: number;
  /** Output lines that could not be parsed, skipped (icmp). */
  unparsed: number;
  /** ICMP error lines (unreachable, ...) seen (icmp). */
  icmpErrors: number;
  /** Probe program starts and exits (icmp). */
  starts: number;
  exits: number;
  /** The program running now (icmp), and its pid. */
  tool: IcmpTool | undefined;
  pid: number | undefined;
}

export function newStats(): ProbeStats {
  return {
    probes: 0,
    lost: 0,
    inferred: 0,
    late: 0,
    unparsed: 0,
    icmpErrors: 0,
    starts: 0,
    exits: 0,
    tool: undefined,
    pid: undefined,
  };
}

/**
 * fping's `-t` for a probe `interval` and `timeout`: below the period, as fping's manual asks (a larger value
 * "produces inconsistent results"); the config default (timeout = interval) becomes interval − 1 ms.
 */
export function icmpTimeout(interval: number, timeout: number): number {
  return Math.max(1, Math.min(Math.round(timeout), Math.round(interval) - 1));
}

/** `fping -l -p INTERVAL -t TIMEOUT -e [-S SOURCE] [-I IFACE] TARGET` */
export function fpingArgs(s: IcmpSettings): string[] {
  return [
    "-l",
    "-p",
    String(Math.round(s.interval)),
    "-t",
    String(Math.round(s.timeout)),
    "-e",
    ...(s.source ? ["-S", s.source] : []),
    ...(s.iface ? ["-I", s.iface] : []),
    s.target,
  ];
}

/** Seconds as ping takes them: 100 → "0.1". */
function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

/** `ping -n -i SECS -W SECS -O -D [-I SOURCE] [-I IFACE] TARGET` (ping's -I takes an address or a device). */
export function pingArgs(s: IcmpSettings): string[] {
  return [
    "-n",
    "-i",
    seconds(s.interval),
    "-W",
    seconds(s.timeout),
    "-O",
    "-D",
    ...(s.source ? ["-I", s.source] : []),
    ...(s.iface ? ["-I", s.iface] : []),
    s.target,
  ];
}

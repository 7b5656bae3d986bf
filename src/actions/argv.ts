/**
 * The commands the runners run, built as argv arrays (pure functions; the unit tests pin them down).
 */
import { isIPv4, isIPv6 } from "node:net";
import type { ActionSpec } from "./types.js";

export type RouteSpec = Extract<ActionSpec, { route: unknown }>["route"];
export type AddressSpec = Extract<ActionSpec, { address: unknown }>["address"];
export type ExecSpec = Extract<ActionSpec, { exec: unknown }>["exec"];
export type HttpSpec = Extract<ActionSpec, { http: unknown }>["http"];
export type BondSpec = Extract<ActionSpec, { bond: unknown }>["bond"];

/** The shell for `exec` with `shell: true`. */
export const SHELL = "/bin/sh";

/** `ip netns exec NS argv...` when a namespace is given; argv itself otherwise. */
export function inNetns(argv: readonly string[], netns?: string): string[] {
  return netns ? ["ip", "netns", "exec", netns, ...argv] : [...argv];
}

/** The address without its prefix length: `10.0.0.5/24` → `10.0.0.5`. */
export function stripPrefix(address: string): string {
  const i = address.indexOf("/");
  return i < 0 ? address : address.slice(0, i);
}

/** True when the destination or gateway is IPv6 (`ip -6`; `default` alone means IPv4 to ip). */
export function isIPv6Route(spec: Pick<RouteSpec, "to" | "via">): boolean {
  return isIPv6(stripPrefix(spec.to)) || (spec.via !== undefined && isIPv6(spec.via));
}

/** `ip [-6] route replace TO [via V] [dev D] [table T] [metric M]`. */
export function routeArgv(spec: RouteSpec): string[] {
  const argv = ["ip"];
  if (isIPv6Route(spec)) argv.push("-6");
  argv.push("route", "replace", spec.to);
  if (spec.via !== undefined) argv.push("via", spec.via);
  if (spec.dev !== undefined) argv.push("dev", spec.dev);
  if (spec.table !== undefined) argv.push("table", String(spec.table));
  if (spec.metric !== undefined) argv.push("metric", String(spec.metric));
  return argv;
}

/** `ip addr replace A dev D` (present) or `ip addr del A dev D` (absent). */
export function addressArgv(spec: AddressSpec): string[] {
  return ["ip", "addr", spec.state === "absent" ? "del" : "replace", spec.address, "dev", spec.dev];
}

/** Which arping is installed: Thomas Habets' (Debian package `arping`) or iputils' (`iputils-arping`). */
export type ArpingFlavour = "habets" | "iputils";

/** Tells the two arpings apart from their `--help` text. */
export function arpingFlavour(helpText: string): ArpingFlavour {
  return /habets|-i <interface>/i.test(helpText) ? "habets" : "iputils";
}

/**
 * A gratuitous ARP for an IPv4 address, or undefined for an IPv6 one (neighbours learn those from the
 * unsolicited neighbour advertisement the kernel sends itself).
 *
 * - iputils: `arping -U -c 1 -I DEV ADDR` (unsolicited mode; sender and target address are ADDR).
 * - Habets: `arping -U -c 1 -w 0 -i DEV -S ADDR ADDR`; `-w 0` because it would otherwise wait a second for a
 *   reply that never comes, and it exits 1 when nobody answered, which for an announcement is success.
 */
export function arpingArgv(spec: AddressSpec, flavour: ArpingFlavour): string[] | undefined {
  const addr = stripPrefix(spec.address);
  if (!isIPv4(addr)) return undefined;
  return flavour === "habets"
    ? ["arping", "-U", "-c", "1", "-w", "0", "-i", spec.dev, "-S", addr, addr]
    : ["arping", "-U", "-c", "1", "-I", spec.dev, addr];
}

/**
 * The argv of an `exec` action. Without a shell it is the argv as written. With `shell: true` it is
 * `/bin/sh -c ARGV0 ARGV1 ARGV2...`: the first element is the script, and the rest become its positional
 * parameters starting at `$0` (as `sh -c` does), so `argv: ['cp "$1" "$2"', cp, a, b]` copies a to b.
 */
export function execArgv(spec: Pick<ExecSpec, "argv" | "shell">): string[] {
  if (!spec.shell) return [...spec.argv];
  const [script = "", ...rest] = spec.argv;
  return [SHELL, "-c", script, ...rest];
}

/** What a command learns about the switch it is part of. */
export interface SwitchInfo {
  readonly group: string;
  readonly from?: string;
  readonly to: string;
  readonly reason: string;
  /** A shared group's switch (fleet mode): the leader's fencing token, for the target to refuse older ones. */
  readonly fence?: string;
}

/**
 * The environment of an `exec` action: this process's, then `STANDBY_GROUP`, `STANDBY_FROM` (empty when there
 * was no previous member), `STANDBY_TO`, `STANDBY_REASON` (and `STANDBY_FENCE` in a shared group), then the
 * action's own `env` (which wins).
 */
export function execEnv(
  info: SwitchInfo,
  specEnv: Readonly<Record<string, string>> = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    STANDBY_GROUP: info.group,
    STANDBY_FROM: info.from ?? "",
    STANDBY_TO: info.to,
    STANDBY_REASON: info.reason,
    ...(info.fence !== undefined ? { STANDBY_FENCE: info.fence } : {}),
    ...specEnv,
  };
}

/** The JSON body an `http` action sends when it has no `body`. */
export function defaultHttpBody(info: SwitchInfo): string {
  return JSON.stringify({
    group: info.group,
    ...(info.from !== undefined ? { from: info.from } : {}),
    to: info.to,
    reason: info.reason,
    ...(info.fence !== undefined ? { fence: info.fence } : {}),
  });
}

/** A Linux interface name: what may safely become part of a /sys path. */
export function isInterfaceName(dev: string): boolean {
  return dev.length > 0 && dev.length <= 15 && dev !== "." && dev !== ".." && !/[/\s:]/.test(dev);
}

/** `SYSROOT/class/net/DEV/bonding/active_slave`. */
export function bondPath(dev: string, sysRoot = "/sys"): string {
  return `${sysRoot.replace(/\/+$/, "")}/class/net/${dev}/bonding/active_slave`;
}

/** argv as one line for messages and dry runs, quoting what a shell would split. */
export function formatArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (a === "" ? "''" : /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

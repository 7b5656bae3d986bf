/**
 * Reading what is installed, so the daemon can reconcile with reality after a restart: which member's route is
 * the default route, whether an address is on its interface. `ip -j` output, parsed by pure functions.
 *
 * The readers throw a ReadError when `ip` fails (reconcile must not mistake "could not look" for "not
 * installed"); the pure matchers never throw.
 */
import { isIPv6 } from "node:net";
import { type AddressSpec, isIPv6Route, type RouteSpec, stripPrefix } from "./argv.js";
import { describeFailure, spawnWithTimeout } from "./spawn.js";

/** How long a read may take. */
export const READ_TIMEOUT_MS = 2000;

/** One route as `ip -j route show` prints it (the fields standby uses). */
export interface Route {
  /** `default`, `10.0.0.0/24`, `10.0.0.5` (a host route has no prefix). */
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly metric?: number;
  /** Only present when the route is not in the table that was asked for (`table all`). */
  readonly table?: string;
  readonly protocol?: string;
  readonly scope?: string;
  /** `unicast` when absent; `local`, `broadcast`, `blackhole`, `unreachable`, ... */
  readonly type?: string;
  /** A multipath route's next hops. */
  readonly nexthops?: readonly { readonly gateway?: string; readonly dev?: string }[];
  /** The family the route was read as (`ip -j route` does not print it): set by readRoutes. */
  readonly family?: Family;
}

export type Family = "inet" | "inet6";

/**
 * The metric the kernel gives a route added without one: 0 for IPv4, 1024 for IPv6. `ip route replace` keys on
 * the destination *and* the metric, so a route action without `metric` installs (or replaces) the route with
 * this metric and leaves routes to the same destination with other metrics (a DHCP client's, say) alone.
 */
export const DEFAULT_METRIC: Readonly<Record<Family, number>> = { inet: 0, inet6: 1024 };

/** `ip` could not be run or failed while standby was reading state. */
export class ReadError extends Error {
  override readonly name = "ReadError";
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly output: string,
  ) {
    super(message);
  }
}

export interface ReadOptions {
  /** A table name or number (default: main). */
  readonly table?: string | number;
  /** Read inside this network namespace (`ip -n NS`); unset, the daemon's own. */
  readonly netns?: string;
  /** `inet6` for IPv6 routes (default `inet`). */
  readonly family?: Family;
  /** Milliseconds (default 2 s). */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

function ipBase(opts: { netns?: string; family?: Family }): string[] {
  return ["ip", ...(opts.netns ? ["-n", opts.netns] : []), ...(opts.family === "inet6" ? ["-6"] : []), "-j"];
}

/** `ip [-n NS] [-6] -j route show [table T]`. */
export function readRoutesArgv(opts: ReadOptions = {}): string[] {
  return [
    ...ipBase(opts),
    "route",
    "show",
    ...(opts.table !== undefined ? ["table", String(opts.table)] : []),
  ];
}

/** Runs an `ip` read and returns its output, or throws a ReadError (tests replace it). */
export type RunIp = (argv: string[], opts: ReadOptions) => Promise<string>;

async function runIp(argv: string[], opts: ReadOptions): Promise<string> {
  const r = await spawnWithTimeout(argv, {
    timeout: opts.timeout ?? READ_TIMEOUT_MS,
    group: false,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const failure = describeFailure(r, opts.timeout ?? READ_TIMEOUT_MS);
  // A routing table that does not exist yet (nothing was ever added to it, e.g. after a reboot) holds no routes:
  // `ip route show table N` exits 2 with "FIB table does not exist"; reconcile must then install, not give up.
  if (failure !== undefined && opts.table !== undefined && /FIB table does not exist/.test(r.output))
    return "[]";
  if (failure !== undefined) {
    const detail = failure === "no such file" ? "not found (install iproute2)" : failure;
    throw new ReadError(`ip: ${detail}`, argv, r.output);
  }
  return r.output;
}

function parseJsonArray(text: string, what: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  let v: unknown;
  try {
    v = JSON.parse(trimmed);
  } catch (err) {
    throw new Error(`${what}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON list`);
  return v;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

/**
 * Parses `ip -j route show`; entries without a destination are skipped. Throws on text that is not JSON. `family`
 * (what was asked for) is recorded on every route, so that an IPv6 action never matches an IPv4 route.
 */
export function parseRoutes(json: string, family?: Family): Route[] {
  const out: Route[] = [];
  for (const item of parseJsonArray(json, "ip -j route")) {
    if (item === null || typeof item !== "object") continue;
    const o = item as Record<string, unknown>;
    const dst = str(o.dst);
    if (dst === undefined) continue;
    const nexthops = Array.isArray(o.nexthops)
      ? o.nexthops
          .filter((n): n is Record<string, unknown> => n !== null && typeof n === "object")
          .map((n) => {
            const gateway = str(n.gateway);
            const dev = str(n.dev);
            return { ...(gateway ? { gateway } : {}), ...(dev ? { dev } : {}) };
          })
      : undefined;
    const fields = {
      gateway: str(o.gateway),
      dev: str(o.dev),
      metric: typeof o.metric === "number" ? o.metric : undefined,
      table: str(o.table),
      protocol: str(o.protocol),
      scope: str(o.scope),
      type: str(o.type),
    };
    const route: Record<string, unknown> = { dst };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) route[k] = v;
    if (nexthops) route.nexthops = nexthops;
    if (family) route.family = family;
    out.push(route as unknown as Route);
  }
  return out;
}

/** The routes of a table (default: main) in the daemon's network namespace, or in `opts.netns`. */
export async function readRoutes(opts: ReadOptions & { run?: RunIp } = {}): Promise<Route[]> {
  const argv = readRoutesArgv(opts);
  const text = await (opts.run ?? runIp)(argv, opts);
  try {
    return parseRoutes(text, opts.family ?? "inet");
  } catch (err) {
    throw new ReadError((err as Error).message, argv, text);
  }
}

/** An address in the form ip prints: IPv6 compressed and lower case. */
export function normalizeIp(addr: string): string {
  if (!isIPv6(addr)) return addr;
  try {
    return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  } catch {
    return addr.toLowerCase();
  }
}

/** A destination in the form ip prints: `default`, host routes without /32 or /128. */
export function normalizeDst(dst: string): string {
  if (dst === "default" || dst === "0.0.0.0/0" || dst === "::/0") return "default";
  const i = dst.indexOf("/");
  const addr = normalizeIp(i < 0 ? dst : dst.slice(0, i));
  const len = i < 0 ? undefined : dst.slice(i + 1);
  if (len === undefined || (len === "32" && !isIPv6(addr)) || (len === "128" && isIPv6(addr))) return addr;
  return `${addr}/${len}`;
}

const TABLE_NAMES: Record<string, string> = { "253": "default", "254": "main", "255": "local" };

/** A table as ip names it: `main` for none or 254, `local`, `default`, else as given. */
export function normalizeTable(t: string | number | undefined): string {
  const s = t === undefined ? "main" : String(t);
  return TABLE_NAMES[s] ?? s;
}

/** The family of a route action: IPv6 when its destination or gateway is (`ip -6`), IPv4 otherwise. */
export function routeFamily(spec: Pick<RouteSpec, "to" | "via">): Family {
  return isIPv6Route(spec) ? "inet6" : "inet";
}

/** The family of a route read from ip: as read, else from its destination or gateway; undefined if unknown. */
function familyOf(r: Route): Family | undefined {
  if (r.family) return r.family;
  const addr = r.dst === "default" ? (r.gateway ?? r.nexthops?.[0]?.gateway) : stripPrefix(r.dst);
  return addr === undefined ? undefined : isIPv6(addr) ? "inet6" : "inet";
}

function sameRoute(spec: RouteSpec, r: Route): boolean {
  if (r.type !== undefined && r.type !== "unicast") return false;
  const family = routeFamily(spec);
  const theirs = familyOf(r);
  if (theirs !== undefined && theirs !== family) return false;
  if (normalizeDst(r.dst) !== normalizeDst(spec.to)) return false;
  // `table` is only printed for `table all`; otherwise the caller read the table it meant.
  if (r.table !== undefined && normalizeTable(r.table) !== normalizeTable(spec.table)) return false;
  const hops = r.nexthops?.length
    ? r.nexthops.map((h) => ({ gateway: h.gateway, dev: h.dev ?? r.dev }))
    : [r];
  const hopOk = hops.some(
    (h) =>
      (spec.via === undefined ||
        (h.gateway !== undefined && normalizeIp(h.gateway) === normalizeIp(spec.via))) &&
      (spec.dev === undefined || h.dev === spec.dev),
  );
  if (!hopOk) return false;
  // ip prints no metric for IPv4 metric 0.
  return (r.metric ?? 0) === (spec.metric ?? DEFAULT_METRIC[family]);
}

/**
 * Whether the route a `route` action installs is among `routes`: the same family and destination (`default` for
 * `default`/`0.0.0.0/0`/`::/0`), the same gateway and device where the action names them, and the same metric —
 * the action's, or the kernel's default for a route added without one (IPv4 0, IPv6 1024), because that is the
 * route `ip route replace` installs. Read `routes` from the action's table and family (`routeReader`,
 * `readRoutes({table, family: routeFamily(spec)})`) or from `table all`.
 */
export function routeMatches(spec: RouteSpec, routes: readonly Route[]): boolean {
  return routes.some((r) => sameRoute(spec, r));
}

/**
 * Whether the action's route is installed *and* carries the traffic: no other unicast route to the same
 * destination in the same table has a lower metric.
 */
export function routeEffective(spec: RouteSpec, routes: readonly Route[]): boolean {
  const mine = routes.filter((r) => sameRoute(spec, r));
  if (mine.length === 0) return false;
  const best = Math.min(...mine.map((r) => r.metric ?? 0));
  const dst = normalizeDst(spec.to);
  const table = normalizeTable(spec.table);
  const family = routeFamily(spec);
  return !routes.some(
    (r) =>
      (r.type === undefined || r.type === "unicast") &&
      (familyOf(r) ?? family) === family &&
      normalizeDst(r.dst) === dst &&
      (r.table === undefined || normalizeTable(r.table) === table) &&
      (r.metric ?? 0) < best,
  );
}

/** Reads the action's table and tells whether its route is installed (routeMatches). */
export async function routeInstalled(
  spec: RouteSpec,
  opts: Omit<ReadOptions, "table" | "family"> = {},
): Promise<boolean> {
  const routes = await readRoutes({
    ...opts,
    ...(spec.table !== undefined ? { table: spec.table } : {}),
    family: routeFamily(spec),
  });
  return routeMatches(spec, routes);
}

/**
 * A reader for one reconciliation: the routes a route action is matched against (its table, its family), read
 * once per table and family however many actions ask. `reader(spec)` then `routeMatches(spec, routes)`.
 */
export function routeReader(
  opts: Omit<ReadOptions, "table" | "family"> & { run?: RunIp } = {},
): (spec: RouteSpec) => Promise<Route[]> {
  const cache = new Map<string, Promise<Route[]>>();
  return (spec) => {
    const family = routeFamily(spec);
    const key = `${family} ${spec.table ?? ""}`;
    let r = cache.get(key);
    if (!r) {
      r = readRoutes({ ...opts, ...(spec.table !== undefined ? { table: spec.table } : {}), family });
      cache.set(key, r);
    }
    return r;
  };
}

/** One interface address as `ip -j addr show` prints it. */
export interface InterfaceAddress {
  readonly dev: string;
  readonly family: string;
  readonly local: string;
  readonly prefixlen: number;
}

/** Parses `ip -j addr show`: every address of every interface listed. */
export function parseAddresses(json: string): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const link of parseJsonArray(json, "ip -j addr")) {
    if (link === null || typeof link !== "object") continue;
    const l = link as Record<string, unknown>;
    const dev = str(l.ifname);
    if (dev === undefined || !Array.isArray(l.addr_info)) continue;
    for (const a of l.addr_info) {
      if (a === null || typeof a !== "object") continue;
      const o = a as Record<string, unknown>;
      const local = str(o.local);
      if (local === undefined || typeof o.prefixlen !== "number") continue;
      out.push({ dev, family: str(o.family) ?? "", local, prefixlen: o.prefixlen });
    }
  }
  return out;
}

/**
 * Whether the action's address is among `addresses`: on its device, with its prefix length (`10.0.0.5` alone
 * means /32, as for ip).
 */
export function addressMatches(
  spec: Pick<AddressSpec, "address" | "dev">,
  addresses: readonly InterfaceAddress[],
): boolean {
  const addr = normalizeIp(stripPrefix(spec.address));
  const slash = spec.address.indexOf("/");
  const prefix = slash < 0 ? (isIPv6(addr) ? 128 : 32) : Number(spec.address.slice(slash + 1));
  return addresses.some((a) => a.dev === spec.dev && normalizeIp(a.local) === addr && a.prefixlen === prefix);
}

/** `ip [-n NS] -j addr show dev D`. */
export function readAddressesArgv(dev: string, opts: { netns?: string } = {}): string[] {
  return [...ipBase(opts), "addr", "show", "dev", dev];
}

/**
 * Whether the address of an `address` action is on its device. A device that does not exist has no
 * addresses (false); any other failure of `ip` throws a ReadError.
 */
export async function addressPresent(
  spec: Pick<AddressSpec, "address" | "dev">,
  opts: Omit<ReadOptions, "table" | "family"> = {},
): Promise<boolean> {
  const argv = readAddressesArgv(spec.dev, opts);
  let text: string;
  try {
    text = await runIp(argv, opts);
  } catch (err) {
    if (err instanceof ReadError && /does not exist|Cannot find device/i.test(err.output)) return false;
    throw err;
  }
  try {
    return addressMatches(spec, parseAddresses(text));
  } catch (err) {
    throw new ReadError((err as Error).message, argv, text);
  }
}

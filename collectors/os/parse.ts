/**
 * Pure parsers of what Linux says in /proc and /sys (and of `ip -o monitor link` lines). No I/O: each takes
 * the text of one file and returns a value, or `undefined` when the text is not what the kernel writes
 * (the caller skips it and counts it).
 */

/** The aggregate `cpu` line of /proc/stat, in USER_HZ ticks. */
export interface CpuTimes {
  /** Every tick but guest/guest_nice (the kernel already counts those in user/nice). */
  readonly total: number;
  /** idle + iowait: time the CPUs had nothing to run. */
  readonly idle: number;
}

/**
 * The first line of /proc/stat: `cpu  user nice system idle iowait irq softirq steal guest guest_nice`.
 * Kernels before 2.6.11 print fewer columns; at least the first four are required.
 */
export function parseProcStat(text: string): CpuTimes | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith("cpu ")) continue;
    const f = line.trim().split(/\s+/).slice(1);
    if (f.length < 4) return undefined;
    const n: number[] = [];
    for (const s of f) {
      const v = counter(s);
      if (v === undefined) return undefined;
      n.push(v);
    }
    const at = (i: number) => n[i] ?? 0;
    const total = at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7);
    return { total, idle: at(3) + at(4) };
  }
  return undefined;
}

/**
 * Busy percent between two readings of /proc/stat: 100 × (1 − Δidle / Δtotal), where idle includes iowait
 * and busy includes steal. `undefined` if no time passed or a counter went backwards (CPU hot-unplug).
 */
export function cpuBusyPercent(prev: CpuTimes, cur: CpuTimes): number | undefined {
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  if (total <= 0 || idle < 0 || idle > total) return undefined;
  return ((total - idle) / total) * 100;
}

/** /proc/meminfo as bytes by key (`MemTotal: 24684092 kB` → MemTotal: 25276510208). Bad lines are left out. */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!m) continue;
    const v = Number(m[2]);
    out.set(m[1]!, m[3] ? v * 1024 : v);
  }
  return out;
}

/**
 * Used memory in percent: (MemTotal − MemAvailable) / MemTotal × 100. MemAvailable is the kernel's own
 * estimate of what can be allocated without swapping (since Linux 3.14); without it, `undefined`.
 */
export function memUsedPercent(info: ReadonlyMap<string, number>): number | undefined {
  const total = info.get("MemTotal");
  const avail = info.get("MemAvailable");
  if (total === undefined || avail === undefined || total <= 0 || avail > total) return undefined;
  return ((total - avail) / total) * 100;
}

export interface LoadAvg {
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
}

/** /proc/loadavg: `1.86 1.38 0.83 1/92 11783`. */
export function parseLoadavg(text: string): LoadAvg | undefined {
  const m = /^(\d+\.\d+) (\d+\.\d+) (\d+\.\d+) \d+\/\d+ \d+\s*$/.exec(text);
  if (!m) return undefined;
  return { load1: Number(m[1]), load5: Number(m[2]), load15: Number(m[3]) };
}

/** RFC 2863 operational states as /sys/class/net/DEV/operstate writes them. */
export const OPERSTATES = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
] as const;
export type Operstate = (typeof OPERSTATES)[number];

export function parseOperstate(text: string): Operstate | undefined {
  const s = text.trim();
  return (OPERSTATES as readonly string[]).includes(s) ? (s as Operstate) : undefined;
}

/** /sys/class/net/DEV/carrier: `1` or `0`. */
export function parseCarrier(text: string): 0 | 1 | undefined {
  const s = text.trim();
  return s === "1" ? 1 : s === "0" ? 0 : undefined;
}

/**
 * Whether a link is up: operstate `up` is up; `unknown` (drivers that do not track it, tun, some virtual
 * devices) defers to the carrier, and is down without one; every other state is down.
 * `undefined` when the operstate is `unknown` and the carrier could not be read.
 */
export function linkUp(operstate: Operstate, carrier?: 0 | 1): 0 | 1 | undefined {
  if (operstate === "up") return 1;
  if (operstate === "unknown") return carrier;
  return 0;
}

/**
 * /sys/class/net/DEV/speed in Mb/s. `null` when the kernel says it knows none: it writes `-1`
 * (SPEED_UNKNOWN, e.g. virtio) — or refuses the read with EINVAL (a down or virtual link), which the reader
 * handles. `undefined` for anything that is not an integer.
 */
export function parseSpeed(text: string): number | null | undefined {
  const s = text.trim();
  if (!/^-?\d+$/.test(s)) return undefined;
  const v = Number(s);
  // 4294967295 is SPEED_UNKNOWN printed as unsigned by older kernels.
  return v < 0 || v === 0xffffffff ? null : v;
}

/** A non-negative decimal counter (/sys/class/net/DEV/statistics/*). */
export function parseCounter(text: string): number | undefined {
  return counter(text.trim());
}

function counter(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** One line of `ip -o monitor link` (iproute2 6.1 prints text, `\` where a newline was). */
export interface LinkEvent {
  readonly deleted: boolean;
  readonly index: number;
  /** Without the `@peer` suffix veth and vlan devices carry. */
  readonly device: string;
  readonly flags: readonly string[];
  /** The `state` word, lower-cased as in sysfs (`up`, `down`, `lowerlayerdown`, ...), if printed. */
  readonly operstate?: Operstate;
}

/**
 * `3: sbos-a@sbos-b: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN ...`
 * or `Deleted 3: sbos-a@NONE: <...> ...`. `undefined` for anything else (`ip monitor` also prints
 * `[LINK]` prefixes with `-l`, timestamps with `-ts`, which this collector does not ask for).
 */
export function parseIpMonitorLine(line: string): LinkEvent | undefined {
  const m = /^(Deleted )?(\d+): ([^:\s]+): <([^>]*)>(.*)$/.exec(line.trim());
  if (!m) return undefined;
  const at = m[3]!.indexOf("@");
  const device = at > 0 ? m[3]!.slice(0, at) : m[3]!;
  const st = / state (\S+)/.exec(m[5]!);
  const operstate = st ? parseOperstate(st[1]!.toLowerCase()) : undefined;
  return {
    deleted: m[1] !== undefined,
    index: Number(m[2]),
    device,
    flags: m[4] === "" ? [] : m[4]!.split(","),
    ...(operstate !== undefined ? { operstate } : {}),
  };
}

/**
 * Link state from a monitor line alone, for when sysfs cannot be read (the device is gone, or lives in
 * another network namespace): a deleted device is down; else its `state` word, with `unknown` deferring to
 * the LOWER_UP flag (the carrier).
 */
export function linkUpFromEvent(ev: LinkEvent): 0 | 1 | undefined {
  if (ev.deleted) return 0;
  if (ev.operstate === undefined) return undefined;
  return linkUp(ev.operstate, ev.flags.includes("LOWER_UP") ? 1 : 0);
}

/** One entry of `systeminformation.fsSize()` (the fields this collector uses). */
export interface FsSizeEntry {
  readonly fs: string;
  readonly type: string;
  readonly size: number;
  readonly used: number;
  readonly available: number;
  readonly mount: string;
}

export interface Filesystem {
  readonly mount: string;
  readonly device: string;
  readonly fstype: string;
  /** used / (used + available) × 100, as df and Telegraf's `disk` report it (blocks reserved for root excluded). */
  readonly usedPercent: number;
  /** Bytes an unprivileged user can still write. */
  readonly freeBytes: number;
}

/** Filesystems that hold no disk data (memory, kernel views, container layers, read-only images). */
export const PSEUDO_FSTYPES: ReadonlySet<string> = new Set([
  "tmpfs",
  "devtmpfs",
  "devfs",
  "ramfs",
  "rootfs",
  "proc",
  "sysfs",
  "cgroup",
  "cgroup2",
  "nsfs",
  "debugfs",
  "tracefs",
  "securityfs",
  "pstore",
  "bpf",
  "configfs",
  "fusectl",
  "mqueue",
  "hugetlbfs",
  "autofs",
  "binfmt_misc",
  "devpts",
  "overlay",
  "aufs",
  "squashfs",
  "iso9660",
  "fuse.lxcfs",
  "efivarfs",
]);

/**
 * Network and user-space filesystems, skipped unless the collector has `network_filesystems: true`: a statfs on
 * a hard-mounted NFS export whose server is gone (or a FUSE daemon that hangs) blocks in the kernel for as long
 * as that lasts. `fuse.*` (sshfs, s3fs, rclone, ...) counts as one; `fuseblk` (ntfs-3g on a local disk) does not.
 */
export const NETWORK_FSTYPES: ReadonlySet<string> = new Set([
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "smbfs",
  "ncpfs",
  "9p",
  "afs",
  "coda",
  "ceph",
  "glusterfs",
  "lustre",
  "gpfs",
  "beegfs",
  "orangefs",
  "davfs",
  "sshfs",
  "fuse",
]);

/** Whether a filesystem type is a network (or FUSE) one: NETWORK_FSTYPES or `fuse.*`. */
export function isNetworkFs(type: string): boolean {
  const t = type.toLowerCase();
  return NETWORK_FSTYPES.has(t) || t.startsWith("fuse.");
}

/** One line of /proc/self/mounts: the device, the mount point (unescaped) and the type. */
export interface Mount {
  readonly device: string;
  readonly mount: string;
  readonly type: string;
}

/**
 * The mounts worth a statfs, from /proc/self/mounts: pseudo types left out, network ones too unless `network`,
 * and a device mounted twice (a bind mount) kept at its first mount point. Mount points are unescaped (the kernel
 * writes space, tab, newline and backslash as `\040`-style octal).
 */
export function parseMounts(text: string, opts: { network?: boolean } = {}): Mount[] {
  const out: Mount[] = [];
  const devices = new Set<string>();
  for (const line of text.split("\n")) {
    const [device, rawMount, type] = line.split(" ");
    if (!device || !rawMount || !type || PSEUDO_FSTYPES.has(type.toLowerCase())) continue;
    if (!opts.network && isNetworkFs(type)) continue;
    if (devices.has(device)) continue;
    devices.add(device);
    const mount = rawMount.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    out.push({ device, mount, type });
  }
  return out;
}

/**
 * The real filesystems of an fsSize() result: pseudo types (and network ones unless `network`) and entries without
 * a size are left out, and a mount listed twice is kept once. `malformed` counts entries that are not fsSize()
 * records.
 */
export function selectFilesystems(
  entries: unknown,
  opts: { network?: boolean } = {},
): { filesystems: Filesystem[]; malformed: number } {
  const filesystems: Filesystem[] = [];
  let malformed = 0;
  if (!Array.isArray(entries)) return { filesystems, malformed: 1 };
  const seen = new Set<string>();
  for (const e of entries as unknown[]) {
    if (!isFsSizeEntry(e)) {
      malformed++;
      continue;
    }
    if (PSEUDO_FSTYPES.has(e.type.toLowerCase()) || e.size <= 0) continue;
    if (!opts.network && isNetworkFs(e.type)) continue;
    if (seen.has(e.mount)) continue;
    seen.add(e.mount);
    const denom = e.used + e.available;
    filesystems.push({
      mount: e.mount,
      device: e.fs,
      fstype: e.type,
      usedPercent: denom > 0 ? (e.used / denom) * 100 : 0,
      freeBytes: e.available,
    });
  }
  return { filesystems, malformed };
}

function isFsSizeEntry(e: unknown): e is FsSizeEntry {
  if (typeof e !== "object" || e === null) return false;
  const r = e as Record<string, unknown>;
  const num = (k: string) => typeof r[k] === "number" && Number.isFinite(r[k]) && (r[k] as number) >= 0;
  return (
    typeof r.fs === "string" &&
    typeof r.type === "string" &&
    typeof r.mount === "string" &&
    r.mount !== "" &&
    num("size") &&
    num("used") &&
    num("available")
  );
}

/** The os collector's programmatic options (tests and embedding), beside its config block (config.ts). */

/** With `root` set, the filesystems come from this file under it (fsSize() output captured on a host). */
export const FS_FIXTURE = "fs-size.json";

export interface OsCollectorOptions {
  /**
   * argv prefix that runs iproute2's `ip` for the link watcher; `-o monitor link` is appended. Default
   * `["ip"]`. Tests watch a network namespace with `["ip", "-n", NS]`. Giving it also makes the watcher use
   * `ip monitor` when `root` is set (the namespace's sysfs is then `ROOT/sys`); without it, a `root` means
   * a fake tree that no `ip` can watch, so the watcher polls it.
   */
  readonly ipCommand?: readonly string[];
  /** Period of the sysfs polling fallback, ms. Default 100. */
  readonly pollMs?: number;
  /** How long the fallback keeps polling after `ip monitor` starts, to cover its subscription, ms. Default 1000. */
  readonly graceMs?: number;
  /** Restart delays of a dead `ip monitor`: from `min`, doubling to `max`, ms. Default 1000 to 30000. */
  readonly backoff?: { readonly min: number; readonly max: number };
  /**
   * argv prefix of the `ip` that drops a NIC's INCOMPLETE neighbour entries when its link comes back up
   * (`neigh flush dev DEV nud incomplete` is appended; see README, "Neighbour refresh"). Default: `ipCommand`
   * (none in poll-only mode); `false` turns the refresh off.
   */
  readonly neighCommand?: readonly string[] | false;
  /**
   * Where filesystem usage comes from, as `systeminformation.fsSize()` records (tests). Default: the mount table
   * and statfs(2), each statfs bounded (see `statfs`).
   */
  readonly fsSize?: () => Promise<unknown>;
  /** The mount table to read (default `/proc/self/mounts`); giving it (or `statfs`) reads mounts even with `root`. */
  readonly mounts?: string;
  /** statfs(2) (default `fs.promises.statfs`); tests stand in a hung mount with a promise that never settles. */
  readonly statfs?: (path: string) => Promise<StatfsLike>;
  /** How long one mount's statfs may take before the mount is left out of the run, ms. Default STATFS_TIMEOUT_MS. */
  readonly statfsTimeoutMs?: number;
}

/** The fields of statfs(2) the collector uses. */
export interface StatfsLike {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

/**
 * How long one mount's statfs may take. A mount that does not answer by then (a hung NFS server, a stuck FUSE
 * daemon, a dying disk) has no `fs.*` sample this run and is counted; the other mounts are reported as usual,
 * and it is not asked again until its pending statfs returns (each hung call holds one libuv thread).
 */
export const STATFS_TIMEOUT_MS = 1000;

/**
 * The collectors of one `os` config block: a poll collector (every `interval`) and a link watcher that
 * streams `nic.link_up` as links change. Both share their label objects.
 */

/**
 * Filesystem usage for the os poll collector: the mount table and a bounded statfs per mount on the real root
 * (a hung NFS mount costs that mount, never the others), ROOT/fs-size.json with a fake root, or an injected
 * `fsSize` (tests).
 */
import { readFile, statfs } from "node:fs/promises";
import { join } from "node:path";
import type { Labels, Sample } from "../../src/engine/types.js";
import type { OsCollectorSpec } from "./config.js";
import { FS_FIXTURE, type OsCollectorOptions, STATFS_TIMEOUT_MS, type StatfsLike } from "./options.js";
import { type FsSizeEntry, type Mount, parseMounts, selectFilesystems } from "./parse.js";
import type { Shared } from "./shared.js";

export class FilesystemReader {
  private fsInFlight = false;
  private readonly fsSize: (() => Promise<unknown>) | undefined;
  private readonly mounts: string | undefined;
  private readonly statfs: (path: string) => Promise<StatfsLike>;
  private readonly statfsTimeoutMs: number;
  /** Mounts whose statfs outlived its timeout and has not returned yet. */
  private readonly statfsPending = new Set<string>();

  constructor(
    private readonly spec: OsCollectorSpec,
    private readonly shared: Shared,
    options: OsCollectorOptions,
  ) {
    this.fsSize = options.fsSize;
    this.mounts = options.mounts ?? (options.statfs ? "/proc/self/mounts" : undefined);
    this.statfs = options.statfs ?? statfs;
    this.statfsTimeoutMs = options.statfsTimeoutMs ?? STATFS_TIMEOUT_MS;
  }

  /** `fs.used_percent` and `fs.free_bytes` of every filesystem measured this run. */
  async read(ts: number, signal: AbortSignal): Promise<Sample[]> {
    const raw = await this.rawFsSize(signal);
    if (raw === undefined) return [];
    const { filesystems, malformed } = selectFilesystems(raw, {
      network: this.spec.network_filesystems === true,
    });
    if (malformed > 0) this.shared.fail("fsSize", `${malformed} malformed filesystem entries`);
    const out: Sample[] = [];
    const present = new Set<Labels>();
    for (const f of filesystems) {
      const labels = this.shared.fsLabels(f);
      present.add(labels);
      out.push({ metric: "fs.used_percent", labels, value: f.usedPercent, ts });
      out.push({ metric: "fs.free_bytes", labels, value: f.freeBytes, ts });
    }
    this.shared.pruneFs(present);
    return out;
  }

  /**
   * Filesystem sizes as fsSize() records: from the mount table and a bounded statfs per mount on the real root,
   * ROOT/fs-size.json with a root, or the `fsSize` option (one call at a time: a hung call is not stacked).
   */
  private async rawFsSize(signal: AbortSignal): Promise<unknown> {
    if (this.fsSize) return this.guardedFsSize(this.fsSize, signal);
    if (this.spec.root !== undefined && this.mounts === undefined) {
      const file = join(this.spec.root, FS_FIXTURE);
      return this.shared.read(file, parseJson, { signal, quiet: new Set(["ENOENT"]) });
    }
    let table: string;
    try {
      table = await readFile(this.mounts ?? "/proc/self/mounts", { encoding: "utf8", signal });
    } catch {
      if (signal.aborted) return undefined;
      // No mount table (not Linux?): systeminformation, which runs `df`.
      return this.guardedFsSize(async () => (await import("systeminformation")).fsSize(), signal);
    }
    const mounts = parseMounts(table, { network: this.spec.network_filesystems === true });
    const entries = await Promise.all(mounts.map((m) => this.statfsMount(m)));
    return entries.filter((e): e is FsSizeEntry => e !== undefined);
  }

  /**
   * One mount's size, or undefined: the mount vanished or refuses statfs (left out, as df does), or statfs did not
   * return within the timeout (left out and counted; not asked again until that call returns).
   */
  private async statfsMount(m: Mount): Promise<FsSizeEntry | undefined> {
    const key = `statfs ${m.mount}`;
    if (this.statfsPending.has(m.mount)) {
      this.shared.fail(key, `statfs of ${m.mount} still pending (hung mount?)`);
      return undefined;
    }
    const call = this.statfs(m.mount);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), this.statfsTimeoutMs);
    });
    try {
      const st = await Promise.race([call, late]);
      if (st === "late") {
        this.statfsPending.add(m.mount);
        call.then(
          () => this.statfsPending.delete(m.mount),
          () => this.statfsPending.delete(m.mount),
        );
        this.shared.fail(
          key,
          `statfs of ${m.mount} (${m.type}) did not answer within ${this.statfsTimeoutMs}ms (hung mount?); the mount is left out until it answers`,
        );
        return undefined;
      }
      return {
        fs: m.device,
        type: m.type,
        size: st.blocks * st.bsize,
        used: (st.blocks - st.bfree) * st.bsize,
        available: st.bavail * st.bsize,
        mount: m.mount,
      };
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A whole-table fsSize() call, one at a time. */
  private async guardedFsSize(fsSize: () => Promise<unknown>, signal: AbortSignal): Promise<unknown> {
    if (this.fsInFlight) {
      this.shared.fail("fsSize", "filesystem sizes still pending from the previous run");
      return undefined;
    }
    this.fsInFlight = true;
    const call = fsSize().finally(() => {
      this.fsInFlight = false;
    });
    try {
      return await raceAbort(call, signal);
    } catch (err) {
      if (!signal.aborted) this.shared.fail("fsSize", "cannot read filesystem sizes", err);
      return undefined;
    }
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

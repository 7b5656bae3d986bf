/** What the os poll collector and link watcher share: paths, label objects, reads that count their errors. */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CollectorContext } from "../../src/collector.js";
import { labelsOf } from "../../src/collector.js";
import type { Labels, Sample } from "../../src/engine/types.js";
import { errorCode as codeOf, errorMessage as errMessage } from "../../src/util/errors.js";
import type { OsCollectorSpec } from "./config.js";
import { type Filesystem, linkUp, parseCarrier, parseOperstate } from "./parse.js";

export interface NicLabels {
  readonly device: Labels;
  readonly rx: Labels;
  readonly tx: Labels;
}

/** Errors the kernel gives for a speed or carrier it does not know (down or virtual links): no sample, no error. */
export const NOT_REPORTED = new Set(["EINVAL", "ENOENT", "ENODEV", "EOPNOTSUPP"]);
export const MAX_ERROR_KEYS = 256;

export class Shared {
  readonly proc: string;
  readonly net: string;
  readonly base: Labels;
  private readonly nics = new Map<string, NicLabels>();
  private readonly fs = new Map<string, Labels>();
  /** Read or parse failures by file. */
  readonly errors = new Map<string, number>();
  errorTotal = 0;

  constructor(
    readonly spec: OsCollectorSpec,
    private readonly ctx: CollectorContext,
  ) {
    const root = spec.root ?? "/";
    this.proc = join(root, "proc");
    this.net = join(root, "sys", "class", "net");
    this.base = labelsOf({ host: ctx.host, collector: spec.name });
  }

  nic(device: string): NicLabels {
    let l = this.nics.get(device);
    if (!l) {
      const d = labelsOf(this.base, { device });
      l = { device: d, rx: labelsOf(d, { direction: "rx" }), tx: labelsOf(d, { direction: "tx" }) };
      this.nics.set(device, l);
    }
    return l;
  }

  fsLabels(f: Filesystem): Labels {
    const key = `${f.mount}\0${f.device}\0${f.fstype}`;
    let l = this.fs.get(key);
    if (!l) {
      l = labelsOf(this.base, { mount: f.mount, device: f.device, fstype: f.fstype });
      this.fs.set(key, l);
    }
    return l;
  }

  /** Drops the label objects of NICs that are gone (containers churn veths). */
  pruneNics(present: ReadonlySet<string>): void {
    for (const d of this.nics.keys()) if (!present.has(d)) this.nics.delete(d);
  }

  pruneFs(present: ReadonlySet<Labels>): void {
    for (const [k, l] of this.fs) if (!present.has(l)) this.fs.delete(k);
  }

  /** Counts a failure; the first one of each file is logged. */
  fail(file: string, what: string, err?: unknown): void {
    this.errorTotal++;
    const n = this.errors.get(file);
    if (n !== undefined) {
      this.errors.set(file, n + 1);
      return;
    }
    if (this.errors.size < MAX_ERROR_KEYS) this.errors.set(file, 1);
    this.ctx.log.warn(
      { collector: this.spec.name, file, ...(err !== undefined ? { err: errMessage(err) } : {}) },
      `os: ${what}; skipping it (logged once per file, counted after)`,
    );
  }

  /**
   * Reads and parses one file. `undefined` (counted and logged once) if it cannot be read or parsed;
   * `undefined` silently if the read fails with one of `quiet` codes or the run was aborted.
   */
  async read<T>(
    file: string,
    parse: (text: string) => T | undefined,
    opts: { signal?: AbortSignal; quiet?: ReadonlySet<string> } = {},
  ): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(file, { encoding: "utf8", ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) return undefined;
      if (opts.quiet?.has(codeOf(err))) return undefined;
      this.fail(file, `cannot read ${file}`, err);
      return undefined;
    }
    const v = parse(text);
    if (v === undefined) this.fail(file, `cannot parse ${file}: ${JSON.stringify(text.slice(0, 80))}`);
    return v;
  }

  /** NIC names under sys/class/net, without `lo` and plain files such as `bonding_masters`. */
  async listNics(signal?: AbortSignal): Promise<string[] | undefined> {
    try {
      const entries = await readdir(this.net, { withFileTypes: true });
      return entries.filter((e) => e.name !== "lo" && !e.isFile()).map((e) => e.name);
    } catch (err) {
      if (!signal?.aborted) this.fail(this.net, `cannot list ${this.net}`, err);
      return undefined;
    }
  }

  /** operstate, and the carrier when the operstate is `unknown`. */
  async readLink(device: string, signal?: AbortSignal): Promise<0 | 1 | undefined> {
    const dir = join(this.net, device);
    const oper = await this.read(join(dir, "operstate"), parseOperstate, {
      ...(signal ? { signal } : {}),
      quiet: VANISHED,
    });
    if (oper === undefined) return undefined;
    if (oper !== "unknown") return linkUp(oper);
    const carrier = await this.read(join(dir, "carrier"), parseCarrier, {
      ...(signal ? { signal } : {}),
      quiet: NOT_REPORTED,
    });
    return linkUp(oper, carrier);
  }

  linkSample(device: string, up: 0 | 1, ts: number): Sample {
    return {
      metric: "nic.link_up",
      labels: this.nic(device).device,
      value: up,
      ts,
    };
  }
}

/** A NIC removed between listing and reading is no error. */
export const VANISHED = new Set(["ENOENT", "ENODEV"]);

export { codeOf, errMessage };

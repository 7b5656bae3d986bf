import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

let seq = 0;

/**
 * Writes `data` (a string, or lines that are written each followed by a newline) to `path` atomically without blocking the event loop (the file system work runs on libuv's
 * thread pool): a temp file in the same directory, fsync, rename over the old one, fsync of the directory.
 * A crash at any point leaves either the old or the new file, never a torn one. A disk that stalls delays
 * the returned promise, never probes or timers. Callers that write the same path must serialize their calls
 * (see `SerialQueue`), or the older content may win.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Iterable<string>,
  mode = 0o600,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${seq++}`;
  const fh = await open(tmp, "w", mode);
  try {
    if (typeof data === "string") await fh.writeFile(data);
    else await writeLines(fh, data);
    // open() applies the umask; the mode is a promise of the file's readers (metrics.prom is 0644).
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  try {
    const dir = await open(dirname(path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Chunks of ~64 KB handed to the file: a large file (metrics.prom of 1,000 SNMP agents: 7 MB) never exists as one string. */
const CHUNK = 64 * 1024;

/** Writes each string followed by a newline, in chunks; the lines are produced lazily, between the writes. */
async function writeLines(fh: FileHandle, lines: Iterable<string>): Promise<void> {
  let chunk: string[] = [];
  let size = 0;
  for (const line of lines) {
    chunk.push(line);
    size += line.length + 1;
    if (size >= CHUNK) {
      await fh.write(`${chunk.join("\n")}\n`);
      chunk = [];
      size = 0;
    }
  }
  if (chunk.length) await fh.write(`${chunk.join("\n")}\n`);
}

/**
 * Runs async jobs one at a time, in the order they were queued (durable writes keep their order). A job's
 * failure is handed to its own promise and never stops the jobs after it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** Queues `job`; the promise settles with the job's outcome. */
  run<T>(job: () => Promise<T>): Promise<T> {
    this.pending++;
    const p = this.tail.then(() => job());
    this.tail = p.then(
      () => this.pending--,
      () => this.pending--,
    );
    return p;
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.pending;
  }

  /** Resolves when every job queued so far has settled. */
  async drain(): Promise<void> {
    await this.tail;
  }
}

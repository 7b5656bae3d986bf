import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SerialQueue, writeFileAtomic } from "../../../src/util/atomic.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sb-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("writes the content with the given mode despite the umask and leaves no temp file", async () => {
    const path = join(dir, "sub", "metrics.prom");
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(path, "a 1\n", 0o644);
    } finally {
      process.umask(old);
    }
    expect(await readFile(path, "utf8")).toBe("a 1\n");
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, "sub"))).toEqual(["metrics.prom"]);
  });

  it("writes lines made lazily, in chunks, each followed by a newline (a file larger than one chunk)", async () => {
    const path = join(dir, "big");
    let made = 0;
    function* lines() {
      for (let i = 0; i < 20_000; i++) {
        made++;
        yield `line_${i} ${"x".repeat(i % 17)}`;
      }
    }
    await writeFileAtomic(path, lines(), 0o644);
    const text = await readFile(path, "utf8");
    expect(made).toBe(20_000);
    expect(text.length).toBeGreaterThan(3 * 64 * 1024);
    const got = text.split("\n");
    expect(got.pop()).toBe("");
    expect(got).toEqual([...Array(20_000).keys()].map((i) => `line_${i} ${"x".repeat(i % 17)}`));
    await writeFileAtomic(path, [], 0o644);
    expect(await readFile(path, "utf8")).toBe("");
  });

  it("rejects when the directory cannot be made, and the old file stays", async () => {
    const path = join(dir, "f");
    await writeFileAtomic(path, "old");
    await expect(writeFileAtomic(join(path, "x"), "new")).rejects.toThrow();
    expect(await readFile(path, "utf8")).toBe("old");
  });
});

describe("SerialQueue", () => {
  it("runs jobs one at a time in queue order; a failure does not stop the next", async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const job =
      (name: string, ms: number, fail = false) =>
      () =>
        new Promise<string>((resolve, reject) => {
          log.push(`start ${name}`);
          setTimeout(() => {
            log.push(`end ${name}`);
            fail ? reject(new Error(name)) : resolve(name);
          }, ms);
        });
    const a = q.run(job("a", 20));
    const b = q.run(job("b", 1, true));
    const c = q.run(job("c", 1));
    expect(q.size).toBe(3);
    await expect(a).resolves.toBe("a");
    await expect(b).rejects.toThrow("b");
    await expect(c).resolves.toBe("c");
    await q.drain();
    expect(q.size).toBe(0);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
  });
});

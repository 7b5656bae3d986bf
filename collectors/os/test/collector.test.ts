import {
  appendFileSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PollCollector, StreamCollector } from "../../../src/collector.js";
import type { Sample } from "../../../src/engine/types.js";
import { collectorContext } from "../../../test/helpers.js";
import type { OsCollectorSpec } from "../config.js";
import { createOsCollector, type OsCollectorOptions, OsPollCollector } from "../index.js";

const FIX = join(import.meta.dirname, "../testcases");
const TS = 1764100000000;
const context = (now: () => number = () => TS) => collectorContext(now);

const temps: string[] = [];
/** A writable copy of the fake root. */
function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "sb-os-unit-"));
  temps.push(dir);
  cpSync(join(FIX, "root"), dir, { recursive: true });
  return dir;
}
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(root: string, options: OsCollectorOptions = {}, now?: () => number) {
  const spec: OsCollectorSpec = { name: "local", type: "os", interval: 5000, timeout: 5000, root };
  const { ctx, logged } = context(now);
  const [poll, watcher] = createOsCollector(spec, ctx, options) as [PollCollector, StreamCollector];
  return { poll, watcher, logged };
}

const run = (poll: PollCollector) => poll.collect(new AbortController().signal);

describe("os poll collector on the fake root", () => {
  it("emits every metric with exact values and labels; lo skipped; no cpu on the first run", async () => {
    const root = tempRoot();
    const { poll, logged } = setup(root);
    expect(poll.kind).toBe("poll");
    expect(poll.name).toBe("local");
    expect([poll.interval, poll.timeout]).toEqual([5000, 5000]);

    const samples = await run(poll);
    const base = { host: "web-01", collector: "local" };
    const nicSamples = (device: string, up: 0 | 1, speed?: number): Sample[] => [
      {
        metric: "nic.link_up",
        labels: { ...base, device },
        value: up,
        ts: TS,
      },
      ...(speed !== undefined
        ? [{ metric: "nic.speed_mbps", labels: { ...base, device }, value: speed, ts: TS }]
        : []),
      { metric: "nic.errors", labels: { ...base, device, direction: "rx" }, value: 0, ts: TS },
      { metric: "nic.errors", labels: { ...base, device, direction: "tx" }, value: 0, ts: TS },
      { metric: "nic.drops", labels: { ...base, device, direction: "rx" }, value: 0, ts: TS },
      { metric: "nic.drops", labels: { ...base, device, direction: "tx" }, value: 0, ts: TS },
    ];
    const fsLabels = { ...base, mount: "/", device: "/dev/vda", fstype: "ext4" };
    expect(samples).toEqual([
      {
        metric: "mem.used_percent",
        labels: base,
        value: ((24684092 - 24339412) / 24684092) * 100,
        ts: TS,
      },
      { metric: "load.1", labels: base, value: 1.86, ts: TS },
      { metric: "load.5", labels: base, value: 1.38, ts: TS },
      { metric: "load.15", labels: base, value: 0.83, ts: TS },
      ...nicSamples("eth0", 1), // speed -1: no sample
      ...nicSamples("ifb0", 0), // speed EINVAL: no sample
      ...nicSamples("sbos-a", 1, 10000),
      ...nicSamples("sbos-b", 0),
      ...nicSamples("sbos-c", 0, 10000), // lowerlayerdown
      {
        metric: "fs.used_percent",
        labels: fsLabels,
        value: (23466627072 / (23466627072 + 85477666816)) * 100,
        ts: TS,
      },
      { metric: "fs.free_bytes", labels: fsLabels, value: 85477666816, ts: TS },
    ]);
    // Speed -1 and EINVAL are the kernel's "no speed", not errors.
    expect(logged).toEqual([]);
  });

  it("cpu busy percent from the /proc/stat delta on the second run", async () => {
    const root = tempRoot();
    const { poll } = setup(root);
    await run(poll);
    copyFileSync(join(FIX, "proc-stat.later"), join(root, "proc/stat"));
    const cpu = (await run(poll)).filter((s) => s.metric === "cpu.load_percent");
    expect(cpu).toEqual([
      {
        metric: "cpu.load_percent",
        labels: { host: "web-01", collector: "local" },
        value: (1511 / 3943) * 100,
        ts: TS,
      },
    ]);
  });

  it("builds each label object once and reuses it across runs and metrics", async () => {
    const { poll } = setup(tempRoot());
    const a = await run(poll);
    const b = await run(poll);
    const key = (s: Sample) => `${s.metric} ${JSON.stringify(s.labels)}`;
    expect(b.map(key)).toEqual(a.map(key));
    a.forEach((s, i) => {
      expect(b[i]!.labels).toBe(s.labels);
      expect(Object.isFrozen(s.labels)).toBe(true);
    });
    const byMetric = (m: string, dev: string, dir?: string) =>
      a.find((s) => s.metric === m && s.labels.device === dev && s.labels.direction === dir)!.labels;
    expect(byMetric("nic.errors", "eth0", "rx")).toBe(byMetric("nic.drops", "eth0", "rx"));
    expect(byMetric("nic.link_up", "sbos-a")).toBe(byMetric("nic.speed_mbps", "sbos-a"));
    expect(a.find((s) => s.metric === "load.1")!.labels).toBe(
      a.find((s) => s.metric === "mem.used_percent")!.labels,
    );
  });

  it("an unreadable or garbled file is skipped, counted and logged once; the rest still reports", async () => {
    const root = tempRoot();
    writeFileSync(join(root, "proc/meminfo"), "this is not meminfo\n");
    rmSync(join(root, "proc/loadavg"));
    // A directory where a file should be: EISDIR, as a read error.
    rmSync(join(root, "sys/class/net/eth0/operstate"));
    mkdirSync(join(root, "sys/class/net/eth0/operstate"));
    writeFileSync(join(root, "sys/class/net/sbos-a/statistics/tx_errors"), "lots\n");
    writeFileSync(join(root, "fs-size.json"), "{not json");
    const { poll, logged } = setup(root);

    const first = await run(poll);
    const second = await run(poll);
    for (const samples of [first, second]) {
      const metrics = new Set(samples.map((s) => s.metric));
      expect(metrics.has("mem.used_percent")).toBe(false);
      expect(metrics.has("load.1")).toBe(false);
      expect(metrics.has("fs.used_percent")).toBe(false);
      const eth0 = samples.filter((s) => s.labels.device === "eth0").map((s) => s.metric);
      expect(eth0).toEqual(["nic.errors", "nic.errors", "nic.drops", "nic.drops"]); // no link_up
      const sbosA = samples.filter((s) => s.labels.device === "sbos-a");
      expect(sbosA.map((s) => `${s.metric}:${s.labels.direction ?? ""}`)).toEqual([
        "nic.link_up:",
        "nic.speed_mbps:",
        "nic.errors:rx",
        "nic.drops:rx",
        "nic.drops:tx",
      ]);
      expect(samples.filter((s) => s.metric === "nic.link_up")).toHaveLength(4); // all but eth0
    }
    const files = [
      join(root, "proc/meminfo"),
      join(root, "proc/loadavg"),
      join(root, "sys/class/net/eth0/operstate"),
      join(root, "sys/class/net/sbos-a/statistics/tx_errors"),
      join(root, "fs-size.json"),
    ];
    expect(logged.map((l) => (l.obj as { file: string }).file).sort()).toEqual([...files].sort());
    expect(logged.every((l) => l.level === "warn")).toBe(true);
    expect(poll).toBeInstanceOf(OsPollCollector);
    const errors = (poll as OsPollCollector).errors;
    expect(Object.fromEntries(errors)).toEqual(Object.fromEntries(files.map((f) => [f, 2])));
  });

  it("no fs-size.json under the root: no filesystem metrics, no error", async () => {
    const root = tempRoot();
    rmSync(join(root, "fs-size.json"));
    const { poll, logged } = setup(root);
    expect((await run(poll)).filter((s) => s.metric.startsWith("fs."))).toEqual([]);
    expect(logged).toEqual([]);
  });

  it("an aborted run rejects", async () => {
    const { poll } = setup(tempRoot());
    const ac = new AbortController();
    ac.abort(new Error("timeout"));
    await expect(poll.collect(ac.signal)).rejects.toThrow("timeout");
  });

  it("with an fsSize function: real-root mode, pseudo filesystems skipped, one call at a time", async () => {
    const root = tempRoot();
    const list = [
      { fs: "tmpfs", type: "tmpfs", size: 10, used: 1, available: 9, use: 10, mount: "/run", rw: true },
      {
        fs: "/dev/sda1",
        type: "xfs",
        size: 1000,
        used: 250,
        available: 750,
        use: 25,
        mount: "/data",
        rw: true,
      },
    ];
    let calls = 0;
    let release: () => void = () => {};
    const fsSize = () => {
      calls++;
      if (calls > 1) return Promise.resolve(list);
      return new Promise<unknown>((r) => {
        release = () => r(list);
      });
    };
    const { poll, logged } = setup(root, { fsSize });
    const ac = new AbortController();
    const p1 = poll.collect(ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(new Error("timeout")); // a hung df: the run gives up at its timeout
    await expect(p1).rejects.toThrow("timeout");
    const second = await run(poll); // still hung: skipped, not stacked
    expect(calls).toBe(1);
    expect(second.some((s) => s.metric.startsWith("fs."))).toBe(false);
    expect(logged.map((l) => l.msg)).toEqual([expect.stringContaining("still pending")]);
    release();
    await new Promise((r) => setTimeout(r, 0));
    const third = await run(poll);
    expect(calls).toBe(2);
    expect(
      third.filter((s) => s.metric.startsWith("fs.")).map((s) => [s.metric, s.labels.mount, s.value]),
    ).toEqual([
      ["fs.used_percent", "/data", 25],
      ["fs.free_bytes", "/data", 750],
    ]);
  });
});

describe("os filesystems from the mount table and statfs (issue 6 item 13)", () => {
  // /proc/self/mounts of a host with local disks, a bind mount, network and FUSE mounts, and a mount whose statfs
  // hangs although its type is not skipped (a dying disk, a dead iSCSI target; a hard NFS mount behaves the same
  // when network_filesystems is on).
  const MOUNTS = [
    "/dev/vda1 / ext4 rw,relatime 0 0",
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
    "tmpfs /run tmpfs rw,nosuid,nodev,size=401536k,mode=755 0 0",
    "/dev/vdb1 /data xfs rw,relatime 0 0",
    "/dev/vdb1 /srv/data xfs rw,relatime 0 0",
    "nas:/export /mnt/nas nfs4 rw,relatime,vers=4.2,hard 0 0",
    "//fs/share /mnt/share cifs rw,relatime,vers=3.1.1 0 0",
    "backup@host:/ /mnt/backup fuse.sshfs rw,nosuid,nodev,relatime,user_id=0 0 0",
    "/dev/sdc1 /mnt/stuck ext4 rw,relatime 0 0",
    "/dev/vdc1 /mnt/with\\040space ext4 rw,relatime 0 0",
    "",
  ].join("\n");
  const GiB = 1024 ** 3;
  const sizes: Record<string, { blocks: number; bfree: number; bavail: number }> = {
    "/": { blocks: 1000, bfree: 600, bavail: 550 },
    "/data": { blocks: 2000, bfree: 1000, bavail: 1000 },
    "/mnt/with space": { blocks: 100, bfree: 100, bavail: 100 },
    "/mnt/nas": { blocks: 1, bfree: 1, bavail: 1 },
  };

  function statfsFake() {
    const calls: string[] = [];
    let release: () => void = () => {};
    let released = false;
    const statfs = (path: string) => {
      calls.push(path);
      if (path === "/mnt/stuck" && released)
        return Promise.resolve({ bsize: GiB, blocks: 10, bfree: 5, bavail: 5 });
      if (path === "/mnt/stuck") {
        return new Promise<{ bsize: number; blocks: number; bfree: number; bavail: number }>((resolve) => {
          release = () => resolve({ bsize: GiB, blocks: 10, bfree: 5, bavail: 5 });
        });
      }
      const s = sizes[path];
      return s
        ? Promise.resolve({ bsize: GiB, ...s })
        : Promise.reject(Object.assign(new Error("x"), { code: "ENOENT" }));
    };
    return {
      statfs,
      calls,
      release: () => {
        released = true;
        release();
      },
    };
  }

  function fsOf(samples: readonly Sample[]) {
    return samples
      .filter((s) => s.metric.startsWith("fs."))
      .map((s) => [s.metric, s.labels.mount, s.labels.fstype, Math.round(s.value * 100) / 100]);
  }

  it("skips network and FUSE filesystems, bounds each statfs, and reports the other mounts", async () => {
    const dir = tempRoot();
    writeFileSync(join(dir, "mounts"), MOUNTS);
    const fake = statfsFake();
    const spec: OsCollectorSpec = { name: "local", type: "os", interval: 5000, timeout: 5000 };
    const { ctx, logged } = context();
    const [poll] = createOsCollector(spec, ctx, {
      mounts: join(dir, "mounts"),
      statfs: fake.statfs,
      statfsTimeoutMs: 150,
    }) as [OsPollCollector, StreamCollector];

    const started = Date.now();
    const first = await run(poll);
    expect(Date.now() - started).toBeLessThan(1000);
    const expected = [
      ["fs.used_percent", "/", "ext4", (400 / 950) * 100],
      ["fs.free_bytes", "/", "ext4", 550 * GiB],
      ["fs.used_percent", "/data", "xfs", 50],
      ["fs.free_bytes", "/data", "xfs", 1000 * GiB],
      ["fs.used_percent", "/mnt/with space", "ext4", 0],
      ["fs.free_bytes", "/mnt/with space", "ext4", 100 * GiB],
    ].map(([m, mount, t, v]) => [m, mount, t, Math.round((v as number) * 100) / 100]);
    expect(fsOf(first)).toEqual(expected);
    // Network and FUSE mounts are never even asked (a statfs on a dead NFS server hangs in the kernel).
    expect([...fake.calls].sort()).toEqual(["/", "/data", "/mnt/stuck", "/mnt/with space"]);
    expect(poll.errors.get("statfs /mnt/stuck")).toBe(1);
    expect(logged.map((l) => l.msg)).toEqual([
      expect.stringContaining("statfs of /mnt/stuck (ext4) did not answer within 150ms"),
    ]);

    // Still hung: not asked again (one stuck call per mount at most), counted, the others still reported.
    const second = await run(poll);
    expect(fsOf(second)).toEqual(expected);
    expect(fake.calls.filter((c) => c === "/mnt/stuck")).toHaveLength(1);
    expect(poll.errors.get("statfs /mnt/stuck")).toBe(2);

    // The mount answers again: it is back.
    fake.release();
    await new Promise((r) => setTimeout(r, 0));
    const third = await run(poll);
    expect(fsOf(third).map((x) => x[1])).toContain("/mnt/stuck");
    expect(fake.calls.filter((c) => c === "/mnt/stuck")).toHaveLength(2);
  });

  it("network_filesystems: true reports them too (each statfs still bounded)", async () => {
    const dir = tempRoot();
    writeFileSync(join(dir, "mounts"), MOUNTS);
    const fake = statfsFake();
    const spec: OsCollectorSpec = {
      name: "local",
      type: "os",
      interval: 5000,
      timeout: 5000,
      network_filesystems: true,
    };
    const [poll] = createOsCollector(spec, context().ctx, {
      mounts: join(dir, "mounts"),
      statfs: fake.statfs,
      statfsTimeoutMs: 100,
    }) as [OsPollCollector, StreamCollector];
    const samples = await run(poll);
    expect(fsOf(samples).map((x) => x[1])).toContain("/mnt/nas");
    expect(fake.calls).toEqual(expect.arrayContaining(["/mnt/nas", "/mnt/share", "/mnt/backup"]));
    fake.release();
  });
});

describe("os link watcher on the fake root (sysfs polling)", () => {
  function watch(watcher: StreamCollector) {
    const got: Sample[] = [];
    const ac = new AbortController();
    watcher.start((s) => got.push(...s), ac.signal);
    return { got, ac };
  }
  async function until<T>(f: () => T | undefined, ms: number): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const linkOf = (got: Sample[], device: string, value: number) =>
    got.find((s) => s.metric === "nic.link_up" && s.labels.device === device && s.value === value);

  it("emits every NIC once at start, then eth0 going down within 1 s, and nothing unchanged", async () => {
    const root = tempRoot();
    const { watcher } = setup(root, {}, Date.now);
    expect(watcher.kind).toBe("stream");
    expect(watcher.name).toBe("local-links");
    const { got, ac } = watch(watcher);
    try {
      await until(() => (got.length >= 5 ? true : undefined), 1000);
      expect(got.map((s) => [s.labels.device, s.value, s.state])).toEqual([
        ["eth0", 1, undefined],
        ["ifb0", 0, undefined],
        ["sbos-a", 1, undefined],
        ["sbos-b", 0, undefined],
        ["sbos-c", 0, undefined],
      ]);
      await new Promise((r) => setTimeout(r, 250));
      expect(got).toHaveLength(5); // polled again, nothing changed, nothing sent

      const t0 = Date.now();
      writeFileSync(join(root, "sys/class/net/eth0/operstate"), "down\n");
      const down = await until(() => linkOf(got, "eth0", 0), 1000);
      const latency = Date.now() - t0;
      expect(latency).toBeLessThan(1000);
      expect(down).toEqual({
        metric: "nic.link_up",
        labels: { host: "web-01", collector: "local", device: "eth0" },
        value: 0,
        ts: down.ts,
      });
      expect(down.labels).toBe(got[0]!.labels); // the same label object as before
      console.log(`fake sysfs: eth0 down seen after ${latency} ms (polling every 100 ms)`);

      writeFileSync(join(root, "sys/class/net/eth0/operstate"), "up\n");
      await until(
        () => (got.filter((s) => s.labels.device === "eth0").length === 3 ? true : undefined),
        1000,
      );
      expect(got.at(-1)).toMatchObject({ value: 1 });
      expect(got.at(-1)?.state).toBeUndefined();
    } finally {
      ac.abort();
    }
    const n = got.length;
    writeFileSync(join(root, "sys/class/net/eth0/operstate"), "down\n");
    await new Promise((r) => setTimeout(r, 250));
    expect(got).toHaveLength(n); // nothing after abort
  });

  it("when ip cannot run: falls back to polling, warns once, retries with backoff", async () => {
    const root = tempRoot();
    const spawns = join(root, "spawns");
    // A stand-in for `ip` that dies at once, leaving a trace of each start.
    const ipCommand = ["sh", "-c", `echo x >> ${spawns}; echo 'ip: boom' >&2; exit 1`, "ip"];
    const { watcher, logged } = setup(root, { ipCommand, backoff: { min: 50, max: 200 } }, Date.now);
    const { got, ac } = watch(watcher);
    try {
      await until(() => (got.length >= 5 ? true : undefined), 1000);
      writeFileSync(join(root, "sys/class/net/sbos-a/operstate"), "lowerlayerdown\n");
      await until(() => linkOf(got, "sbos-a", 0), 1000);
      await new Promise((r) => setTimeout(r, 700));
      // 50 + 100 + 200 + 200 ... ms: 3 to 6 starts in ~0.8 s
      const starts = readFileSync(spawns, "utf8").trim().split("\n").length;
      expect(starts).toBeGreaterThanOrEqual(3);
      expect(starts).toBeLessThanOrEqual(10); // not a hot loop
      const warns = logged.filter((l) => l.level === "warn");
      expect(warns).toHaveLength(1);
      expect(warns[0]!.msg).toMatch(/ended \(exit 1\): ip: boom; polling sysfs every 100ms/);
    } finally {
      ac.abort();
    }
  });

  it("while ip monitor runs, sysfs is not polled after the grace period; when ip dies, polling resumes", async () => {
    const root = tempRoot();
    const pidFile = join(root, "ip.pid");
    // An `ip monitor` that runs and says nothing.
    const ipCommand = ["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`, "ip"];
    const { watcher, logged } = setup(root, { ipCommand, graceMs: 200, neighCommand: false }, Date.now);
    const { got, ac } = watch(watcher);
    try {
      await until(() => (got.length >= 5 ? true : undefined), 1000);
      const pid = await until(() => {
        try {
          return Number(readFileSync(pidFile, "utf8").trim()) || undefined;
        } catch {
          return undefined;
        }
      }, 1000);
      await new Promise((r) => setTimeout(r, 400)); // past the grace period
      writeFileSync(join(root, "sys/class/net/eth0/operstate"), "down\n");
      await new Promise((r) => setTimeout(r, 600)); // six polling periods: a poller would have seen it
      expect(linkOf(got, "eth0", 0)).toBeUndefined();

      process.kill(pid, "SIGKILL");
      await until(() => linkOf(got, "eth0", 0), 1000);
      expect(logged.filter((l) => l.level === "warn")[0]?.msg).toMatch(/ended \(SIGKILL\); polling sysfs/);
    } finally {
      ac.abort();
    }
  });

  describe("neighbour refresh when a link comes back", () => {
    const line = (index: number, dev: string, up: boolean) =>
      `${index}: ${dev}: <${up ? "BROADCAST,MULTICAST,UP,LOWER_UP" : "NO-CARRIER,BROADCAST,MULTICAST,UP"}> mtu 1500 qdisc noqueue state ${up ? "UP" : "DOWN"} mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff\n`;
    const setState = (root: string, dev: string, state: string) =>
      writeFileSync(join(root, `sys/class/net/${dev}/operstate`), `${state}\n`);
    const callsOf = (file: string) => {
      try {
        return readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
      } catch {
        return [];
      }
    };

    it("ip monitor: down → up drops the NIC's INCOMPLETE entries, once; nothing at start or on down", async () => {
      const root = tempRoot();
      const lines = join(root, "monitor.out");
      const calls = join(root, "neigh.calls");
      writeFileSync(lines, "");
      // `ip -o monitor link` replaying what the test appends; `ip neigh ...` recording its arguments.
      const ipCommand = ["sh", "-c", `exec tail -n +1 -f ${lines}`, "ip"];
      const neighCommand = ["sh", "-c", `echo "$@" >> ${calls}`, "ip"];
      const { watcher, logged } = setup(root, { ipCommand, neighCommand, graceMs: 0 }, Date.now);
      const { got, ac } = watch(watcher);
      try {
        await until(() => (got.length >= 5 ? true : undefined), 1000);
        await new Promise((r) => setTimeout(r, 200));
        expect(callsOf(calls)).toEqual([]); // links seen for the first time: nothing to refresh

        setState(root, "eth0", "down");
        appendFileSync(lines, line(2, "eth0", false));
        await until(() => linkOf(got, "eth0", 0), 1000);
        await new Promise((r) => setTimeout(r, 200));
        expect(callsOf(calls)).toEqual([]);

        setState(root, "eth0", "up");
        appendFileSync(lines, line(2, "eth0", true));
        await until(() => linkOf(got.slice(5), "eth0", 1), 1000);
        await until(() => (callsOf(calls).length === 1 ? true : undefined), 1000);
        expect(callsOf(calls)).toEqual(["neigh flush dev eth0 nud incomplete"]);

        // another line saying up (ip prints several per change): no second refresh
        appendFileSync(lines, line(2, "eth0", true));
        await until(
          () => (got.filter((s) => s.labels.device === "eth0").length >= 4 ? true : undefined),
          1000,
        );
        await new Promise((r) => setTimeout(r, 200));
        expect(callsOf(calls)).toHaveLength(1);
        expect(logged.filter((l) => l.level === "warn")).toEqual([]);
      } finally {
        ac.abort();
      }
    });

    it("sysfs polling (no ip): a NIC seen down, then up, is refreshed too; a failing refresh warns once", async () => {
      const root = tempRoot();
      const calls = join(root, "neigh.calls");
      const neighCommand = [
        "sh",
        "-c",
        `echo "$@" >> ${calls}; echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2`,
        "ip",
      ];
      const { watcher, logged } = setup(root, { ipCommand: ["/nonexistent/ip"], neighCommand }, Date.now);
      const { got, ac } = watch(watcher);
      try {
        await until(() => (got.length >= 5 ? true : undefined), 1000);
        setState(root, "sbos-b", "up"); // down at start
        await until(() => linkOf(got, "sbos-b", 1), 1000);
        await until(() => (callsOf(calls).length === 1 ? true : undefined), 1000);
        expect(callsOf(calls)).toEqual(["neigh flush dev sbos-b nud incomplete"]);
        setState(root, "sbos-b", "down");
        await until(() => linkOf(got.slice(6), "sbos-b", 0), 1000);
        setState(root, "sbos-b", "up");
        await until(() => (callsOf(calls).length === 2 ? true : undefined), 1000);
        await new Promise((r) => setTimeout(r, 100));
        const warns = logged.filter((l) => l.level === "warn").map((l) => l.msg);
        expect(warns.filter((m) => /neighbour/.test(m ?? ""))).toEqual([
          expect.stringMatching(
            /cannot drop the INCOMPLETE neighbour entries of sbos-b .*exit 2: RTNETLINK answers: Operation not permitted/,
          ),
        ]);
      } finally {
        ac.abort();
      }
    });

    it("neighCommand false: no refresh", async () => {
      const root = tempRoot();
      const calls = join(root, "neigh.calls");
      const { watcher } = setup(root, { ipCommand: ["/nonexistent/ip"], neighCommand: false }, Date.now);
      const { got, ac } = watch(watcher);
      try {
        await until(() => (got.length >= 5 ? true : undefined), 1000);
        setState(root, "sbos-b", "up");
        await until(() => linkOf(got, "sbos-b", 1), 1000);
        await new Promise((r) => setTimeout(r, 200));
        expect(callsOf(calls)).toEqual([]);
      } finally {
        ac.abort();
      }
    });
  });

  it("a missing ip binary is the same as a dead one", async () => {
    const root = tempRoot();
    const { watcher, logged } = setup(root, { ipCommand: ["/nonexistent/ip"] }, Date.now);
    const { got, ac } = watch(watcher);
    try {
      await until(() => (got.length >= 5 ? true : undefined), 1000);
      writeFileSync(join(root, "sys/class/net/eth0/operstate"), "down\n");
      await until(() => linkOf(got, "eth0", 0), 1000);
      expect(logged[0]!.msg).toMatch(/cannot run \/nonexistent\/ip: .*ENOENT/);
    } finally {
      ac.abort();
    }
  });
});

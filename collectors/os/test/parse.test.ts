import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  cpuBusyPercent,
  isNetworkFs,
  linkUp,
  linkUpFromEvent,
  memUsedPercent,
  parseCarrier,
  parseCounter,
  parseIpMonitorLine,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseOperstate,
  parseProcStat,
  parseSpeed,
  selectFilesystems,
} from "../parse.js";

// Real text captured on the test machine (Linux 6.18, 2 vCPUs, iproute2 6.1); see collectors/os/testcases/README.md.
const FIX = join(import.meta.dirname, "../testcases");
const ROOT = join(FIX, "root");
const fixture = (p: string) => readFileSync(join(ROOT, p), "utf8");
const nic = (dev: string, file: string) => fixture(`sys/class/net/${dev}/${file}`);

describe("/proc/stat", () => {
  const first = parseProcStat(fixture("proc/stat"));
  const later = parseProcStat(readFileSync(join(FIX, "proc-stat.later"), "utf8"));

  it("sums the aggregate cpu line without guest time; idle includes iowait", () => {
    // cpu  76099 0 10851 1216377 293 0 122 3964 0 0
    expect(first).toEqual({ total: 76099 + 10851 + 1216377 + 293 + 122 + 3964, idle: 1216377 + 293 });
  });

  it("busy percent is 1 − Δidle/Δtotal between two readings", () => {
    // Δ: user 1060, system 337, idle 2431, iowait 1, softirq 3, steal 111 → total 3943, idle 2432
    expect(cpuBusyPercent(first!, later!)).toBeCloseTo((1511 / 3943) * 100, 12);
  });

  it("no value when no time passed or counters went backwards", () => {
    expect(cpuBusyPercent(first!, first!)).toBeUndefined();
    expect(cpuBusyPercent(later!, first!)).toBeUndefined();
  });

  it.each(["", "intr 1 2 3\n", "cpu  1 2 x 4\n", "cpu  1 2 3\n"])("rejects %j", (t) => {
    expect(parseProcStat(t)).toBeUndefined();
  });
});

describe("/proc/meminfo", () => {
  const info = parseMeminfo(fixture("proc/meminfo"));

  it("reads every line, kB as bytes", () => {
    expect(info.get("MemTotal")).toBe(24684092 * 1024);
    expect(info.get("MemAvailable")).toBe(24339412 * 1024);
    expect(info.get("HugePages_Total")).toBe(0); // no unit: a count
    expect(info.size).toBe(fixture("proc/meminfo").trim().split("\n").length);
  });

  it("used percent from MemTotal and MemAvailable", () => {
    expect(memUsedPercent(info)).toBeCloseTo(((24684092 - 24339412) / 24684092) * 100, 12);
  });

  it("no value without MemAvailable (Linux < 3.14) or with nonsense", () => {
    expect(memUsedPercent(parseMeminfo("MemTotal:       24684092 kB\nMemFree:        24025560 kB\n"))).toBe(
      undefined,
    );
    expect(memUsedPercent(parseMeminfo("MemTotal: 0 kB\nMemAvailable: 0 kB\n"))).toBeUndefined();
    expect(memUsedPercent(parseMeminfo("garbage"))).toBeUndefined();
  });
});

describe("/proc/loadavg", () => {
  it("reads the three averages", () => {
    expect(parseLoadavg(fixture("proc/loadavg"))).toEqual({ load1: 1.86, load5: 1.38, load15: 0.83 });
  });
  it.each(["", "1.86 1.38\n", "a b c 1/2 3\n"])("rejects %j", (t) => {
    expect(parseLoadavg(t)).toBeUndefined();
  });
});

describe("/sys/class/net", () => {
  it.each([
    ["eth0", "up", 1], // virtio NIC
    ["ifb0", "down", 0], // admin down
    ["sbos-a", "up", 1], // veth, both ends up
    ["sbos-b", "down", 0], // veth set down
    ["sbos-c", "lowerlayerdown", 0], // veth whose peer is down
  ] as const)("%s operstate %s → link up %d", (dev, state, up) => {
    expect(parseOperstate(nic(dev, "operstate"))).toBe(state);
    expect(linkUp(state)).toBe(up);
  });

  it("lo's operstate is unknown: the carrier decides", () => {
    expect(parseOperstate(nic("lo", "operstate"))).toBe("unknown");
    expect(parseCarrier(nic("lo", "carrier"))).toBe(1);
    expect(linkUp("unknown", 1)).toBe(1);
    expect(linkUp("unknown", 0)).toBe(0);
    expect(linkUp("unknown", undefined)).toBeUndefined();
  });

  it("carrier", () => {
    expect(parseCarrier(nic("eth0", "carrier"))).toBe(1);
    expect(parseCarrier(nic("sbos-c", "carrier"))).toBe(0);
    // The kernel refuses carrier with EINVAL on an admin-down link; the fake tree leaves the file out.
    expect(existsSync(join(ROOT, "sys/class/net/sbos-b/carrier"))).toBe(false);
    expect(parseCarrier("2\n")).toBeUndefined();
  });

  it("speed: Mb/s, or null for the kernel's unknown (-1)", () => {
    expect(parseSpeed(nic("sbos-a", "speed"))).toBe(10000);
    expect(parseSpeed(nic("sbos-c", "speed"))).toBe(10000); // a veth keeps its speed while its peer is down
    expect(parseSpeed(nic("eth0", "speed"))).toBeNull(); // virtio: -1
    expect(parseSpeed("4294967295\n")).toBeNull();
    expect(parseSpeed("fast\n")).toBeUndefined();
    expect(parseSpeed("")).toBeUndefined();
    // EINVAL on ifb0 (down): left out of the fake tree.
    expect(existsSync(join(ROOT, "sys/class/net/ifb0/speed"))).toBe(false);
  });

  it("operstate words other than the kernel's are rejected", () => {
    expect(parseOperstate("UP\n")).toBeUndefined();
    expect(parseOperstate("")).toBeUndefined();
  });

  it("counters", () => {
    expect(parseCounter(nic("eth0", "statistics/rx_packets"))).toBe(5941);
    expect(parseCounter(nic("eth0", "statistics/rx_errors"))).toBe(0);
    expect(parseCounter(nic("sbos-a", "statistics/rx_bytes"))).toBe(176);
    expect(parseCounter("-1\n")).toBeUndefined();
    expect(parseCounter("1e3\n")).toBeUndefined();
    expect(parseCounter("99999999999999999999\n")).toBeUndefined(); // beyond 2^53: not exact
  });
});

describe("ip -o monitor link", () => {
  // A veth pair sbos-a/sbos-b: b down, b up, both deleted.
  const lines = readFileSync(join(FIX, "ip-monitor-link.txt"), "utf8").trim().split("\n");

  it("parses every captured line", () => {
    expect(
      lines.map(parseIpMonitorLine).map((e) => e && [e.deleted, e.index, e.device, e.operstate]),
    ).toEqual([
      [false, 2, "sbos-b", "down"],
      [false, 3, "sbos-a", "lowerlayerdown"],
      [false, 2, "sbos-b", "lowerlayerdown"],
      [false, 2, "sbos-b", "up"],
      [false, 3, "sbos-a", "up"],
      [false, 3, "sbos-a", "down"],
      [false, 2, "sbos-b", "down"],
      [true, 3, "sbos-a", "down"],
      [true, 2, "sbos-b", "down"],
    ]);
  });

  it("flags, and the link state a line implies", () => {
    const e = parseIpMonitorLine(lines[1]!)!;
    expect(e.flags).toEqual(["NO-CARRIER", "BROADCAST", "MULTICAST", "UP", "M-DOWN"]);
    expect(lines.map((l) => linkUpFromEvent(parseIpMonitorLine(l)!))).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0]);
    // operstate unknown (lo, tun): LOWER_UP is the carrier
    const lo = parseIpMonitorLine(
      "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default \\    link/loopback",
    )!;
    expect([lo.device, lo.operstate, linkUpFromEvent(lo)]).toEqual(["lo", "unknown", 1]);
  });

  it("ignores what is not a link line", () => {
    expect(parseIpMonitorLine("")).toBeUndefined();
    expect(parseIpMonitorLine("Timestamp: Tue Nov 25 21:40:00 2025 123456 usec")).toBeUndefined();
    expect(parseIpMonitorLine("3: eth0 mtu 1500")).toBeUndefined();
  });
});

describe("filesystems (systeminformation.fsSize() records)", () => {
  const real = JSON.parse(fixture("fs-size.json")) as unknown[];

  it("the captured root filesystem: df's used/(used+available), free = available", () => {
    expect(selectFilesystems(real)).toEqual({
      filesystems: [
        {
          mount: "/",
          device: "/dev/vda",
          fstype: "ext4",
          usedPercent: (23466627072 / (23466627072 + 85477666816)) * 100,
          freeBytes: 85477666816,
        },
      ],
      malformed: 0,
    });
  });

  it("skips pseudo filesystems, empty ones and repeated mounts; counts malformed records", () => {
    // Synthetic records in fsSize()'s shape (this machine's fsSize() lists only /).
    const entry = (fs: string, type: string, mount: string, size = 1000) => ({
      fs,
      type,
      size,
      used: 100,
      available: 900,
      use: 10,
      mount,
      rw: true,
    });
    const { filesystems, malformed } = selectFilesystems([
      ...real,
      entry("overlay", "overlay", "/var/lib/docker/overlay2/x/merged"),
      entry("tmpfs", "tmpfs", "/run"),
      entry("/dev/loop0", "squashfs", "/snap/core/1"),
      entry("/dev/vdb", "xfs", "/data", 0),
      entry("/dev/vda", "ext4", "/"),
      entry("/dev/vdc1", "xfs", "/srv"),
      { fs: "/dev/vdd", type: "ext4", mount: "/x", size: "big" },
      null,
    ]);
    expect(filesystems.map((f) => f.mount)).toEqual(["/", "/srv"]);
    expect(filesystems[1]).toEqual({
      mount: "/srv",
      device: "/dev/vdc1",
      fstype: "xfs",
      usedPercent: 10,
      freeBytes: 900,
    });
    expect(malformed).toBe(2);
  });

  it("not a list: one malformed, nothing selected", () => {
    expect(selectFilesystems({ fs: "/dev/vda" })).toEqual({ filesystems: [], malformed: 1 });
  });

  it("network and FUSE filesystems are left out unless asked for", () => {
    const e = (fs: string, type: string, mount: string) => ({
      fs,
      type,
      size: 10,
      used: 1,
      available: 9,
      mount,
    });
    const list = [
      e("/dev/vda", "ext4", "/"),
      e("nas:/x", "nfs4", "/mnt/nas"),
      e("u@h:/", "fuse.sshfs", "/mnt/h"),
    ];
    expect(selectFilesystems(list).filesystems.map((f) => f.mount)).toEqual(["/"]);
    expect(selectFilesystems(list, { network: true }).filesystems.map((f) => f.mount)).toEqual([
      "/",
      "/mnt/nas",
      "/mnt/h",
    ]);
  });
});

describe("mount table", () => {
  it("network types: nfs, cifs, smb3, 9p, sshfs, fuse.*; not fuseblk or local ones", () => {
    for (const t of [
      "nfs",
      "nfs4",
      "cifs",
      "smb3",
      "9p",
      "ceph",
      "sshfs",
      "fuse",
      "fuse.sshfs",
      "fuse.rclone",
      "NFS4",
    ])
      expect(isNetworkFs(t), t).toBe(true);
    for (const t of ["ext4", "xfs", "btrfs", "zfs", "vfat", "fuseblk"]) expect(isNetworkFs(t), t).toBe(false);
  });

  it("parses /proc/self/mounts: pseudo and network types out, bind mounts once, octal escapes undone", () => {
    const text = [
      "/dev/vda1 / ext4 rw,relatime 0 0",
      "proc /proc proc rw 0 0",
      "/dev/vda1 /srv/bind ext4 rw,relatime 0 0",
      "nas:/export /mnt/nas nfs4 rw,hard 0 0",
      "//fs/share /mnt/share cifs rw 0 0",
      "u@h:/ /mnt/h fuse.sshfs rw 0 0",
      "/dev/sdb1 /mnt/usb\\040stick vfat rw 0 0",
      "",
    ].join("\n");
    expect(parseMounts(text)).toEqual([
      { device: "/dev/vda1", mount: "/", type: "ext4" },
      { device: "/dev/sdb1", mount: "/mnt/usb stick", type: "vfat" },
    ]);
    expect(parseMounts(text, { network: true }).map((m) => m.mount)).toEqual([
      "/",
      "/mnt/nas",
      "/mnt/share",
      "/mnt/h",
      "/mnt/usb stick",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { resolvePaths, schema } from "../config.js";

const parse = (block: Record<string, unknown>) =>
  schema.safeParse({ name: "disks", type: "smart", ...block });
const messages = (block: Record<string, unknown>) => {
  const r = parse(block);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

describe("smart config", () => {
  it("defaults: every 10m, 30s a device, smartctl from PATH, sleeping disks not woken, discovery", () => {
    expect(parse({}).data).toEqual({
      name: "disks",
      type: "smart",
      interval: 600_000,
      timeout: 30_000,
      smartctl: "smartctl",
      wake: false,
    });
    // The timeout is never longer than the interval.
    expect(parse({ interval: "10s" }).data?.timeout).toBe(10_000);
    expect(parse({ interval: "1h", timeout: "2m" }).data?.timeout).toBe(120_000);
  });

  it("devices: a path, or {device, type}", () => {
    expect(
      parse({ devices: ["/dev/sda", { device: "/dev/bus/0", type: "megaraid,0" }] }).data?.devices,
    ).toEqual([{ device: "/dev/sda" }, { device: "/dev/bus/0", type: "megaraid,0" }]);
  });

  it("refuses what smartctl would read as an option, an empty list, unknown keys", () => {
    expect(messages({ devices: ["-a"] })).toEqual(['"-a" is not a device path: it must not start with "-"']);
    expect(messages({ devices: [{ device: "/dev/sda", type: "--scan" }] })).toEqual([
      '"--scan" is not a smartctl device type (-d): it must not start with "-"',
    ]);
    expect(messages({ devices: [] })).toEqual(["an empty list; leave `devices` out to discover disks"]);
    expect(messages({ devices: [42] })).toEqual([
      'found 42; expected a device path (/dev/sda) or {device: /dev/bus/0, type: "megaraid,0"}',
    ]);
    expect(parse({ device: "/dev/sda" }).success).toBe(false);
  });

  it("a smartctl path is relative to the config file; a bare name is looked up in PATH", () => {
    const spec = parse({ smartctl: "./bin/fake-smartctl" }).data!;
    expect(resolvePaths(spec, "/etc/standby").smartctl).toBe("/etc/standby/bin/fake-smartctl");
    expect(resolvePaths(parse({}).data!, "/etc/standby").smartctl).toBe("smartctl");
    expect(resolvePaths(parse({ smartctl: "/usr/sbin/smartctl" }).data!, "/etc").smartctl).toBe(
      "/usr/sbin/smartctl",
    );
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatError, loadConfigText } from "../../../src/config/load.js";
import { DEFAULT_LISTEN, parseCidr, parseListen, schema } from "../config.js";

const parse = (extra: Record<string, unknown>) =>
  schema.safeParse({ name: "traps", type: "snmp_trap", ...extra });
const messages = (extra: Record<string, unknown>) => {
  const r = parse(extra);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("snmp_trap config", () => {
  it("defaults: udp:0.0.0.0:162, one community as a list, no allow (the polled agents)", () => {
    const r = parse({ community: { env: "C" } });
    expect(r.success && r.data).toEqual({
      name: "traps",
      type: "snmp_trap",
      listen: DEFAULT_LISTEN,
      community: [{ kind: "env", name: "C" }],
    });
    expect(parseListen(DEFAULT_LISTEN)).toEqual({ host: "0.0.0.0", port: 162, transport: "udp4" });
  });

  it("v3 users: auth required, protocols default to sha / aes; a user listed once", () => {
    const r = parse({ users: [{ user: "u", auth: { key: "k1" }, priv: { key: { file: "p" } } }] });
    expect(r.success && r.data.users).toEqual([
      {
        user: "u",
        auth: { protocol: "sha", key: { kind: "inline", value: "k1" } },
        priv: { protocol: "aes", key: { kind: "file", path: "p" } },
      },
    ]);
    expect(messages({ users: [{ user: "u" }] })).toEqual([expect.stringMatching(/^users\.0\.auth: /)]);
    expect(
      messages({
        users: [
          { user: "u", auth: { key: "a" } },
          { user: "u", auth: { key: "b" } },
        ],
      }),
    ).toEqual(['users.1.user: user "u" is listed twice']);
  });

  it("refuses a receiver with neither community nor users, a bad listen, allow or engine ID", () => {
    expect(messages({})).toEqual([expect.stringMatching(/^community: a trap receiver needs a community/)]);
    expect(messages({ community: "c", listen: "127.0.0.1:162" })).toEqual([
      expect.stringMatching(/^listen: "127.0.0.1:162" is not udp:HOST:PORT/),
    ]);
    expect(messages({ community: "c", listen: "udp:127.0.0.1:70000" })).toHaveLength(1);
    expect(messages({ community: "c", allow: ["10.0.0.0/33", "example.com"] })).toEqual([
      expect.stringMatching(/^allow\.0: "10.0.0.0\/33" is not an address or CIDR block/),
      expect.stringMatching(/^allow\.1: /),
    ]);
    expect(messages({ community: "c", allow: [] })).toHaveLength(1);
    expect(messages({ community: "c", engine_id: "abc" })).toEqual([expect.stringMatching(/^engine_id: /)]);
    expect(messages({ community: "c", engine_id: "0x80001f8880a1b2c3d4" })).toEqual([]);
  });

  it("parses listen addresses and CIDR blocks", () => {
    expect(parseListen("udp:[::]:162")).toEqual({ host: "::", port: 162, transport: "udp6" });
    expect(parseListen("udp:localhost:1162")).toEqual({ host: "localhost", port: 1162, transport: "udp4" });
    expect(parseListen("udp:[nothost]:162")).toBeUndefined();
    expect(parseListen("tcp:0.0.0.0:162")).toBeUndefined();
    expect(parseCidr("192.0.2.7")).toEqual({ address: "192.0.2.7", prefix: 32, family: "ipv4" });
    expect(parseCidr("2001:db8::/32")).toEqual({ address: "2001:db8::", prefix: 32, family: "ipv6" });
    expect(parseCidr("10.0.0.0/8/1")).toBeUndefined();
    expect(parseCidr("10.0.0.0/x")).toBeUndefined();
  });

  it("rules on the receiver's metrics draw no catalogue warning (ifAlias, index, descr)", async () => {
    const text = [
      "collectors:",
      "  - {name: traps, type: snmp_trap, community: {env: C}}",
      "groups:",
      "  - name: g",
      "    members:",
      "      - {name: a, priority: 1, health: [up, psu]}",
      "rules: [rules.yaml]",
    ].join("\n");
    const dir = mkdtempSync(join(tmpdir(), "sb-trap-"));
    writeFileSync(
      join(dir, "rules.yaml"),
      [
        "rules:",
        "  - {name: up, metric: snmp.if.oper_status, labels: {ifAlias: uplink, target: '192.0.2.1:161'}, problem: 'in [failed]'}",
        "  - {name: psu, metric: snmp.psu, labels: {index: '1', descr: 'PS*'}, problem: 'in [failed]'}",
      ].join("\n"),
    );
    const r = await loadConfigText(text, join(dir, "standby.yaml"));
    expect(r.ok ? (r.warnings ?? []).map(formatError) : r.errors.map(formatError)).toEqual([]);
  });
});

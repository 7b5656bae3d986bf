import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ProbeLine, parseFpingLine, parsePingLine } from "../parse.js";
import { SeqTracker } from "../sequence.js";

// Real output of Debian fping 5.1 and iputils ping 20221126, captured by collectors/probe/testcases/capture.sh.
const FIX = join(import.meta.dirname, "../testcases");

function fixture(name: string): string[] {
  const text = readFileSync(join(FIX, name), "utf8");
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

type Parser = (line: string) => ProbeLine | undefined;

function parseAll(parse: Parser, name: string): ProbeLine[] {
  return fixture(name).map((line) => {
    const p = parse(line);
    if (!p) throw new Error(`${name}: cannot parse ${JSON.stringify(line)}`);
    return p;
  });
}

/** Results as the collector reports them: seq → "1 RTT" / "0", one per probe, via SeqTracker. */
function replay(parse: Parser, name: string, first: number, timeout: number, modulus = 0) {
  const t = new SeqTracker(first, modulus);
  const out: string[] = [];
  let stale = 0;
  for (const line of fixture(name)) {
    const p = parse(line);
    if (!p || p.kind === "info" || (p.kind === "icmp-error" && p.seq === undefined)) continue;
    if (p.kind === "reply" && p.duplicate) continue;
    const v = t.accept(p.seq!);
    if (!v.fresh) {
      stale++;
      continue;
    }
    for (let i = 0; i < v.missed; i++) out.push("0 (missed)");
    out.push(p.kind === "reply" && p.rtt <= timeout ? `1 ${p.rtt}` : "0");
  }
  return { out, stale };
}

const seqs = (ls: ProbeLine[]) => ls.map((l) => ("seq" in l ? l.seq : undefined));

describe("fping -l -e (real output)", () => {
  it("parses answered probes: sequence numbers from 0, rtt in ms", () => {
    const ls = parseAll(parseFpingLine, "fping-loopback.stdout.txt");
    expect(ls).toHaveLength(10);
    expect(ls.every((l) => l.kind === "reply" && !l.duplicate && l.rtt > 0 && l.rtt < 5)).toBe(true);
    expect(seqs(ls)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ls[0]).toEqual({ kind: "reply", seq: 0, rtt: 0.025, duplicate: false });
  });

  it("takes the target as fping prints it (a name)", () => {
    const ls = parseAll(parseFpingLine, "fping-hostname.stdout.txt");
    expect(ls.map((l) => l.kind)).toEqual(["reply", "reply", "reply", "reply", "reply"]);
    expect(ls[4]).toEqual({ kind: "reply", seq: 4, rtt: 0.04, duplicate: false });
  });

  it("knows the closing summary on stderr (SIGINT) and carries no result in it", () => {
    for (const f of ["fping-loopback.stderr.txt", "fping-hostname.stderr.txt"]) {
      const ls = parseAll(parseFpingLine, f);
      expect(ls, f).toHaveLength(2); // not vacuous: the blank line and the summary
      expect(ls.every((l) => l.kind === "info")).toBe(true);
    }
  });

  it("parses timeouts: one line per probe, in order, whether dropped by nft or link down", () => {
    const ls = parseAll(parseFpingLine, "fping-loss.stdout.txt");
    expect(seqs(ls)).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(ls[6]).toEqual({ kind: "timeout", seq: 6 });
    expect(ls.filter((l) => l.kind === "timeout")).toHaveLength(17);
    // The first reply after the link came back (ARP): three digits of precision, as fping prints them.
    expect(ls[28]).toEqual({ kind: "reply", seq: 28, rtt: 29.8, duplicate: false });
    expect(ls[13]).toEqual({ kind: "reply", seq: 13, rtt: 0.673, duplicate: false });
  });

  it("parses ICMP Host Unreachable on stderr without a probe number; every probe still times out on stdout", () => {
    const out = parseAll(parseFpingLine, "fping-unreachable.stdout.txt");
    expect(out).toHaveLength(45);
    expect(out.every((l) => l.kind === "timeout")).toBe(true);
    expect(seqs(out)).toEqual(Array.from({ length: out.length }, (_, i) => i));
    const err = parseAll(parseFpingLine, "fping-unreachable.stderr.txt");
    expect(err.length).toBeGreaterThan(10);
    for (const l of err) {
      expect(l).toEqual({ kind: "icmp-error", from: "10.201.0.1", message: "ICMP Host Unreachable" });
    }
  });

  it("prints nothing for probes whose send failed (own link down): the gap shows in the numbers", () => {
    const ls = parseAll(parseFpingLine, "fping-netdown.stdout.txt");
    expect(seqs(ls)).toEqual([0, 1, 2, 3, 9, 10, 11, 12, 13, 14]);
    expect(fixture("fping-netdown.stderr.txt")).toEqual([]);
    const { out } = replay(parseFpingLine, "fping-netdown.stdout.txt", 0, 90);
    expect(out).toHaveLength(15);
    expect(out.slice(4, 9)).toEqual(Array(5).fill("0 (missed)"));
  });

  it("does not take start-up errors for results", () => {
    const err = fixture("fping-errors.stderr.txt");
    expect(err).toEqual([
      "fping: cannot bind source address : Cannot assign requested address",
      "binding to specific interface (SO_BINTODEVICE): No such device",
      "nonexistent.invalid: Name or service not known",
    ]);
    for (const l of err) expect(parseFpingLine(l)).toBeUndefined();
  });
});

describe("fping: formats from its source (sprint_tm, -D, duplicates, replies from another address)", () => {
  it.each([
    ["10.0.0.1 : [3], 64 bytes, 3.45 ms (1.20 avg, 0% loss)", 3, 3.45],
    ["10.0.0.1 : [4], 64 bytes, 29.8 ms (12.3 avg, 0% loss)", 4, 29.8],
    ["10.0.0.1 : [5], 64 bytes, 1016 ms (123 avg, 0% loss)", 5, 1016],
    ["10.0.0.1 : [6], 64 bytes, 1.234e+06 ms (123 avg, 0% loss)", 6, 1_234_000],
    ["[1764100000.12345] 10.0.0.1 : [7], 64 bytes, 0.050 ms (0.050 avg, 0% loss)", 7, 0.05],
    ["10.0.0.1 : [8], 64 bytes, 0.050 ms (0.050 avg, 120% return)", 8, 0.05],
  ])("%s", (line, seq, rtt) => {
    expect(parseFpingLine(line)).toEqual({ kind: "reply", seq, rtt, duplicate: false });
  });

  it("timeouts with -D, duplicates, and the stderr fragment of a reply from another address", () => {
    expect(parseFpingLine("[1764100000.12345] 10.0.0.1 : [9], timed out (NaN avg, 100% loss)")).toEqual({
      kind: "timeout",
      seq: 9,
    });
    expect(parseFpingLine("10.0.0.1 : duplicate for [2], 64 bytes, 0.061 ms")).toEqual({
      kind: "reply",
      seq: 2,
      rtt: 0.061,
      duplicate: true,
    });
    expect(
      parseFpingLine(" [<- 10.0.0.5]ICMP Time Exceeded from 10.0.0.254 for ICMP Echo sent to 10.0.0.1"),
    ).toEqual({ kind: "icmp-error", from: "10.0.0.254", message: "ICMP Time Exceeded" });
    expect(parseFpingLine(" [<- 10.0.0.5] [<- 10.0.0.5]")).toEqual({ kind: "info" });
  });

  it.each([
    "10.0.0.1 : [x], 64 bytes, 0.05 ms",
    "10.0.0.1 : [1], 64 bytes, fast ms",
    "10.0.0.1 is alive",
    "garbage",
    "10.0.0.1 : [99999999999999999999], timed out (NaN avg, 100% loss)",
  ])("does not parse %j", (line) => {
    expect(parseFpingLine(line)).toBeUndefined();
  });
});

describe("ping -n -O -D (real output)", () => {
  it("parses replies, the header and the closing summary", () => {
    const ls = parseAll(parsePingLine, "ping-loopback.stdout.txt");
    const replies = ls.filter((l) => l.kind === "reply");
    expect(seqs(replies)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(replies[0]).toEqual({ kind: "reply", seq: 1, rtt: 0.027, duplicate: false });
    expect(ls.filter((l) => l.kind === "info")).toHaveLength(5); // header, blank, 3 summary lines
  });

  it("parses `no answer yet` and replies that come after it", () => {
    const ls = parseAll(parsePingLine, "ping-loss.stdout.txt");
    expect(ls[6]).toEqual({ kind: "timeout", seq: 6 });
    expect(ls.filter((l) => l.kind === "timeout")).toHaveLength(16);
    expect(ls.find((l) => l.kind === "reply" && l.seq === 18)).toEqual({
      kind: "reply",
      seq: 18,
      rtt: 1016,
      duplicate: false,
    });
  });

  it("reports each probe once: late replies are stale, a reply slower than the timeout is a loss", () => {
    const { out, stale } = replay(parsePingLine, "ping-loss.stdout.txt", 1, 90, 65536);
    expect(out).toHaveLength(31);
    expect(stale).toBe(9); // the replies to 18..26, after their `no answer yet`
    expect(out.slice(5, 12)).toEqual(Array(7).fill("0"));
    expect(out[26]).toBe("1 80.2"); // seq 27 answered within 90 ms
  });

  it("parses Destination Host Unreachable with its probe number; a repeated `no answer yet` is stale", () => {
    const ls = parseAll(parsePingLine, "ping-unreachable.stdout.txt");
    const errs = ls.filter((l) => l.kind === "icmp-error");
    expect(errs.length).toBeGreaterThan(5);
    expect(errs[0]).toEqual({
      kind: "icmp-error",
      from: "10.201.0.1",
      message: "Destination Host Unreachable",
      seq: 1,
    });
    const { out, stale } = replay(parsePingLine, "ping-unreachable.stdout.txt", 1, 90, 65536);
    expect(out).toHaveLength(41); // one result per probe: not vacuous
    expect(out.every((r) => r === "0")).toBe(true);
    expect(stale).toBeGreaterThanOrEqual(errs.length); // the errors come seconds late, in a burst
  });

  it("prints `no answer yet` while its own link is down", () => {
    const ls = parseAll(parsePingLine, "ping-netdown.stdout.txt");
    expect(ls.filter((l) => l.kind === "timeout").map((l) => ("seq" in l ? l.seq : 0))).toEqual([
      4, 5, 6, 7, 8,
    ]);
  });

  it("does not take send and start-up errors for results", () => {
    const err = [...fixture("ping-unreachable.stderr.txt"), ...fixture("ping-errors.stderr.txt")];
    expect(err).toContain("ping: sendmsg: No buffer space available");
    expect(err).toContain("ping: bind: Cannot assign requested address");
    expect(err).toContain("ping: connect: Network is unreachable");
    for (const l of err) expect(parsePingLine(l)).toBeUndefined();
  });
});

describe("ping: other formats", () => {
  it.each([
    ["64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=12.3 ms (DUP!)", 3, 12.3, true],
    ["64 bytes from ::1: icmp_seq=4 ttl=64 time=0.031 ms", 4, 0.031, false],
    ["64 bytes from gw.example (10.0.0.1): icmp_seq=5 ttl=63 time=1.05 ms", 5, 1.05, false],
  ])("%s", (line, seq, rtt, duplicate) => {
    expect(parsePingLine(line)).toEqual({ kind: "reply", seq, rtt, duplicate });
  });

  it("ICMP errors with a name, and lines it does not know", () => {
    expect(parsePingLine("From gw.example (10.0.0.254) icmp_seq=7 Time to live exceeded")).toEqual({
      kind: "icmp-error",
      from: "gw.example",
      message: "Time to live exceeded",
      seq: 7,
    });
    expect(parsePingLine("Request timeout for icmp_seq 3")).toBeUndefined();
    expect(parsePingLine("64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=? ms")).toBeUndefined();
  });
});

describe("SeqTracker", () => {
  it("drops what was reported and fills gaps, capped", () => {
    const t = new SeqTracker(0, 0, 3);
    expect(t.accept(0)).toEqual({ fresh: true, missed: 0 });
    expect(t.accept(0)).toEqual({ fresh: false, missed: 0 });
    expect(t.accept(3)).toEqual({ fresh: true, missed: 2 });
    t.skip(); // 4 given up on
    expect(t.expected).toBe(5);
    expect(t.accept(4)).toEqual({ fresh: false, missed: 0 });
    expect(t.accept(100)).toEqual({ fresh: true, missed: 3 });
  });

  it("wraps at the modulus (ping's 16-bit icmp_seq)", () => {
    const t = new SeqTracker(65534, 65536);
    expect(t.accept(65534).fresh).toBe(true);
    expect(t.accept(65535).fresh).toBe(true);
    expect(t.accept(0)).toEqual({ fresh: true, missed: 0 });
    expect(t.accept(65535).fresh).toBe(false);
    expect(t.accept(2)).toEqual({ fresh: true, missed: 1 });
  });
});

import { describe, expect, it } from "vitest";
import {
  describeFailure,
  formatDuration,
  lastLine,
  OUTPUT_LIMIT,
  OutputBuffer,
  type SpawnResult,
  truncateOutput,
} from "../../../src/actions/spawn.js";

function result(r: Partial<SpawnResult>): SpawnResult {
  return { argv: ["x"], output: "", durationMs: 1, timedOut: false, aborted: false, ...r };
}

describe("formatDuration", () => {
  it("writes durations as users do", () => {
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(5000)).toBe("5s");
    expect(formatDuration(1500)).toBe("1.5s");
    expect(formatDuration(999.6)).toBe("1000ms");
  });
});

describe("output truncation", () => {
  it("keeps short output whole", () => {
    const b = new OutputBuffer();
    b.push("hello ");
    b.push(Buffer.from("world"));
    expect(b.toString()).toBe("hello world");
  });

  it("keeps the head and the tail of long output and says how much was left out", () => {
    const b = new OutputBuffer(100);
    b.push("A".repeat(60));
    for (let i = 0; i < 10; i++) b.push("B".repeat(30));
    b.push("THE END");
    const s = b.toString();
    expect(s.startsWith("A".repeat(50))).toBe(true);
    expect(s.endsWith("THE END")).toBe(true);
    expect(s).toMatch(/\[\.\.\. 267 bytes left out \.\.\.\]/);
    expect(Buffer.byteLength(s)).toBeLessThan(150);
  });

  it("truncates strings to about 4 KiB", () => {
    const s = truncateOutput("x".repeat(100_000));
    expect(Buffer.byteLength(s)).toBeLessThanOrEqual(OUTPUT_LIMIT + 64);
    expect(truncateOutput("short")).toBe("short");
  });
});

describe("describeFailure", () => {
  it("is undefined on success", () => {
    expect(describeFailure(result({ exitCode: 0, output: "fine\n" }), 5000)).toBeUndefined();
  });

  it("gives the exit code and the last line of output", () => {
    expect(
      describeFailure(
        result({ exitCode: 2, output: "some\nRTNETLINK answers: Network is unreachable\n\n" }),
        5000,
      ),
    ).toBe("exit 2: RTNETLINK answers: Network is unreachable");
    expect(describeFailure(result({ exitCode: 1 }), 5000)).toBe("exit 1");
  });

  it("names timeouts, signals and programs that could not start", () => {
    expect(describeFailure(result({ timedOut: true, killedWith: "SIGTERM" }), 5000)).toBe(
      "timed out after 5s, killed",
    );
    expect(describeFailure(result({ timedOut: true, killedWith: "SIGKILL" }), 300)).toBe(
      "timed out after 300ms, killed (SIGKILL: it ignored SIGTERM)",
    );
    expect(describeFailure(result({ exitSignal: "SIGSEGV" }), 5000)).toBe("killed by SIGSEGV");
    expect(describeFailure(result({ spawnError: "ENOENT" }), 5000)).toBe("no such file");
    expect(describeFailure(result({ spawnError: "EACCES" }), 5000)).toBe("permission denied");
    expect(describeFailure(result({ aborted: true, killedWith: "SIGTERM" }), 5000)).toBe("cancelled, killed");
  });

  it("shortens very long lines", () => {
    expect(lastLine(`${"y".repeat(500)}\n`)).toHaveLength(200);
  });
});

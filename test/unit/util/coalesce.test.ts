import { describe, expect, it } from "vitest";
import { Coalesced } from "../../../src/util/coalesce.js";

describe("Coalesced", () => {
  it("runs one at a time; kicks during a run make exactly one more run; errors go to onError; stopped: no run", async () => {
    let runs = 0;
    let active = 0;
    let maxActive = 0;
    const errors: string[] = [];
    let stopped = false;
    const c = new Coalesced(
      async () => {
        runs++;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        if (runs === 2) throw new Error("second failed");
      },
      (e) => errors.push(e.message),
      () => stopped,
    );
    c.kick();
    c.kick();
    c.kick();
    c.kick();
    await c.settled();
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    expect(errors).toEqual(["second failed"]);
    stopped = true;
    c.kick();
    await c.settled();
    expect(runs).toBe(2);
  });
});

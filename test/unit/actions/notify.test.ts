import { describe, expect, it } from "vitest";
import { notify, notifyContext } from "../../../src/actions/notify.js";
import type { StandbyEvent } from "../../../src/groups/events.js";

const event: StandbyEvent = {
  ts: 1764100000123,
  kind: "failover",
  group: "uplink",
  from: "isp-a",
  to: "isp-b",
  reason: "gw-a-down firing: max over 3 samples == 0 (value 0)",
};

describe("notify", () => {
  it("takes the switch from the event", () => {
    expect(notifyContext(event)).toEqual({
      group: "uplink",
      from: "isp-a",
      to: "isp-b",
      reason: event.reason,
      dryRun: false,
    });
    expect(notifyContext({ ts: 1, kind: "state_discarded", reason: "r" })).toEqual({
      group: "",
      to: "",
      reason: "r",
      dryRun: false,
    });
  });

  it("sends the event JSON to http hooks and returns one result per hook, in order", async () => {
    const results = await notify(
      [
        { http: { url: "http://127.0.0.1:9000/hook", method: "POST", headers: {}, timeout: 2000 } },
        { exec: { argv: ["/usr/local/bin/page-oncall"], env: {}, shell: false, timeout: 5000 } },
      ],
      event,
      { dryRun: true },
    );
    expect(results.map((r) => r.kind)).toEqual(["http", "exec"]);
    expect(results[0]?.output).toContain(JSON.stringify(event));
    expect(results[1]?.argv).toEqual(["/usr/local/bin/page-oncall"]);
  });

  it("returns nothing for no hooks", async () => {
    expect(await notify([], event)).toEqual([]);
  });
});

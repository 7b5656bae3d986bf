import { describe, expect, it } from "vitest";
import type { Route } from "../../../src/actions/routes.js";
import { type ProbeCollectorSpec, prepare } from "../config.js";

const spec = (target: string): ProbeCollectorSpec => ({
  name: "gateway",
  type: "probe",
  interval: 1000,
  timeout: 900,
  probe: { kind: "icmp", target },
});

describe("probe prepare (target: gateway)", () => {
  it("probes the default route's gateway", async () => {
    const routes = async (): Promise<Route[]> => [
      { dst: "10.0.0.0/8", gateway: "10.0.0.254" } as Route,
      { dst: "default", gateway: "192.0.2.1" } as Route,
    ];
    expect((await prepare(spec("gateway"), routes)).probe.target).toBe("192.0.2.1");
  });
  it("leaves any other target as written, without reading routes", async () => {
    const s = spec("10.200.1.1");
    expect(await prepare(s, () => Promise.reject(new Error("not called")))).toBe(s);
  });
  it("says why when there is no default route with a gateway", async () => {
    await expect(prepare(spec("gateway"), async () => [{ dst: "default" } as Route])).rejects.toThrow(
      "cannot find the default gateway to probe: no default route with a gateway",
    );
  });
});

/**
 * Vitest glue for the namespace testbed (kept apart from testbed.ts so that benchmarks can import the bed without
 * loading vitest).
 *
 * ```ts
 * describeWithTestbed("failover", { tag: "e1", index: 1 }, (bed) => {
 *   it("moves the default route", async () => { ... }, 20_000);
 * });
 * ```
 * Builds the bed in beforeAll, destroys it in afterAll (also when a test failed). Where beds cannot be built (not
 * root, tools missing) the suite is skipped, except under CI (`CI=true`), where it fails with the reason.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { DualUplinkTestbed, type Support, type TestbedOptions, testbedSupport } from "./testbed.js";

/** Whether this machine can build beds (checked once per test file). */
export const support: Support = await testbedSupport();

export function describeWithTestbed(
  name: string,
  options: TestbedOptions,
  body: (bed: DualUplinkTestbed) => void,
): void {
  if (!support.ok) {
    const reason = support.reason;
    if (process.env.CI === "true") {
      describe(name, () => {
        it("can build a network-namespace testbed", () => {
          throw new Error(`the e2e testbed cannot run on CI: ${reason}`);
        });
      });
    } else {
      describe.skip(`${name} (skipped: ${reason})`, () => {
        it("needs the testbed", () => {});
      });
    }
    return;
  }
  describe(name, () => {
    const bed = new DualUplinkTestbed(options);
    beforeAll(() => bed.create(), 60_000);
    afterAll(() => bed.destroy(), 60_000);
    body(bed);
  });
}

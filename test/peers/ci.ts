/** The CI=true rule for suites that need a peer (snmpd, ipmi_sim, network namespaces). */
import { describe, it } from "vitest";

/**
 * A suite that needs a peer (`missing` says why it cannot run, or is undefined): skipped without it, except under
 * CI=true, where a missing peer is a failed test — never a silent skip.
 */
export function failInCiWhenMissing(suite: string, missing: string | undefined): void {
  if (missing === undefined || process.env.CI !== "true") return;
  describe(suite, () => {
    it("has what it needs", () => {
      throw new Error(`${missing}; under CI=true this test fails rather than skips`);
    });
  });
}

/** Headless Chromium for the status page's tests: Debian's chromium driven by playwright-core (a devDependency). */
import { existsSync } from "node:fs";

export const CHROMIUM = "/usr/bin/chromium";
export const playwright = await import("playwright-core").catch(() => undefined);
/** Why the browser tests cannot run here, or undefined. */
export const browserMissing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (Debian's chromium: scripts/test-deps.sh installs it)`
  : !playwright
    ? "playwright-core is missing (a devDependency: npm ci)"
    : undefined;

/** standby's version: package.json's, read once (dist/ and the checkout both have it two levels up). */
import { readFileSync } from "node:fs";

function read(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const p = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (p.name === "standby" && p.version) return p.version;
    } catch {
      // not there: the other layout
    }
  }
  return "unknown";
}

export const VERSION = read();

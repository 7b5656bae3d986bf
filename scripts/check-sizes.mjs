// Part of `npm run lint`: no source file over 400 lines (each file should do one thing; tests and fixtures
// are not counted). Prints the offenders and exits 1.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const LIMIT = 400;
const roots = ["src", "collectors", "bench"];
const over = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "testcases" && name !== "fixtures") walk(p);
    } else if (p.endsWith(".ts") && !p.endsWith(".test.ts")) {
      const lines = readFileSync(p, "utf8").split("\n").length - 1;
      if (lines > LIMIT) over.push(`${p} (${lines} lines)`);
    }
  }
}
for (const r of roots) walk(r);
if (over.length > 0) {
  console.error(`source files over ${LIMIT} lines (split them by responsibility):\n  ${over.join("\n  ")}`);
  process.exit(1);
}

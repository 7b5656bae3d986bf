// Part of `npm run build`: tsc compiles only the TypeScript, so the status page's plain files (src/api/page/:
// index.html, app.js, app.css — served as they are, no build step of their own) are copied beside the compiled
// src/api/page.js, into dist/src/api/page/, where the daemon reads them and scripts/install.sh finds them.
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "src/api/page");
const to = join(root, "dist/src/api/page");
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (/\.(html|js|css)$/.test(name)) copyFileSync(join(from, name), join(to, name));
}

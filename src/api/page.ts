/**
 * The status web page (issue 11 part 4; src/api/README.md "The status page"): `GET /` and its assets (app.js,
 * the two modules it imports, app.css), plain files in src/api/page/ copied to dist/ by scripts/copy-assets.mjs
 * (no build step, no framework, no CDN). The page reads `/v1/status` and `/v1/events?follow=1` and posts the
 * operator commands with the token the user types in; it holds no secret itself. Served with a strict
 * Content-Security-Policy: only its own scripts and style, no inline code, no framing.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** What `ApiOptions.page` takes: answers true when it served the request. */
export type PageHook = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  // Small files, read once at start: a browser asks again each time (an upgrade shows at once).
  "cache-control": "no-cache",
};

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/controls.js": { file: "controls.js", type: "text/javascript; charset=utf-8" },
  "/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/** The directory of the page's files: src/api/page/ beside this module (dist/src/api/page/ when built). */
export const PAGE_DIR = fileURLToPath(new URL("./page/", import.meta.url));

/**
 * The `page` hook of startApi. The files are read once, here; one that is missing (an install without them) is
 * answered with a 500 that says so, and the rest of the API works on.
 */
export function statusPage(dir: string = PAGE_DIR): PageHook {
  const files = new Map<string, Buffer | Error>();
  for (const { file } of Object.values(ASSETS)) {
    if (files.has(file)) continue;
    try {
      files.set(file, readFileSync(join(dir, file)));
    } catch (err) {
      files.set(file, err as Error);
    }
  }
  return (req, res, path) => {
    if (path === "/favicon.ico") {
      res.writeHead(204, { ...PAGE_HEADERS });
      res.end();
      return true;
    }
    const asset = ASSETS[path];
    if (!asset) return false;
    const body = files.get(asset.file);
    if (body === undefined || body instanceof Error) {
      const text = `the status page's ${asset.file} is missing from ${dir}: ${body?.message ?? "not read"}\n`;
      res.writeHead(500, { ...PAGE_HEADERS, "content-type": "text/plain; charset=utf-8" });
      res.end(text);
      return true;
    }
    res.writeHead(200, { ...PAGE_HEADERS, "content-type": asset.type, "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  };
}

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { GroupState } from "../groups/controller.js";

/** What survives a restart: each group's controller state, by group name. */
export interface PersistedState {
  readonly version: 1;
  readonly savedAt: number;
  readonly groups: Readonly<Record<string, GroupState>>;
}

export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

/**
 * Writes atomically: a temp file in the same directory, fsync, rename over the old one, fsync the directory.
 * A crash at any point leaves either the old or the new file, never a torn one.
 */
export function writeFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

export function saveState(stateDir: string, groups: ReadonlyMap<string, GroupState>, now: number): void {
  const state: PersistedState = { version: 1, savedAt: now, groups: Object.fromEntries(groups) };
  writeFileAtomic(stateFile(stateDir), `${JSON.stringify(state)}\n`);
}

/** The persisted state, or undefined when there is none; throws with a clear message when it is unreadable. */
export function loadState(stateDir: string): PersistedState | undefined {
  const path = stateFile(stateDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read the saved state: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${path}: the saved state is not valid JSON (${(e as Error).message}); move it away to start afresh`,
    );
  }
  const p = parsed as Partial<PersistedState>;
  if (p?.version !== 1 || typeof p.groups !== "object" || p.groups === null) {
    throw new Error(`${path}: not a standby state file of version 1; move it away to start afresh`);
  }
  return p as PersistedState;
}

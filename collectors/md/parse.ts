/**
 * /proc/mdstat, parsed (pure). The kernel writes it in drivers/md/md.c (md_seq_show, status_resync):
 *
 *     Personalities : [raid1] [raid6] [raid5] [raid4]
 *     md1 : active raid5 sdd1[3](S) sdc1[2](F) sdb1[1] sda1[0]
 *           1953260544 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]
 *           [==>..................]  recovery = 12.6% (123456/976630272) finish=90.2min speed=150000K/sec
 *           bitmap: 0/8 pages [0KB], 65536KB chunk
 *
 *     md127 : inactive sdb[1](S) sda[0](S)
 *           5104 blocks super external:imsm
 *
 *     unused devices: <none>
 *
 * An array starts at a line `NAME : active|inactive ...`; every line after it up to the next array (or the
 * `unused devices` footer) belongs to it, however it is indented. A line of a shape this parser does not know is
 * skipped and returned in `unparsed` (never thrown); an array whose first line cannot be read is skipped whole
 * (with its detail lines), so that no sample is made from half of it.
 */

/** The states of `md.state`, one series each (node_exporter's state-set convention). */
export const MD_STATES = [
  "clean",
  "degraded",
  "recovering",
  "resyncing",
  "checking",
  "reshaping",
  "inactive",
] as const;
export type MdState = (typeof MD_STATES)[number];

/** The roles of `md.devices`. */
export const MD_ROLES = ["total", "active", "failed", "spare"] as const;
export type MdRole = (typeof MD_ROLES)[number];

/** What the kernel's resync thread does (`repair` shows as `resync`). */
export type SyncAction = "recovery" | "resync" | "check" | "reshape";

export interface MdMember {
  readonly device: string;
  /** The `[N]` after the name: the device's number in the array (not its slot). */
  readonly number: number;
  /** The flag letters that follow, in order: W write-mostly, J journal, F faulty, S spare, R replacement. */
  readonly flags: string;
}

export interface MdArray {
  /** `md0`, `md127`, `md_home`. */
  readonly name: string;
  /** `active` or `inactive` (no personality: assembled but not started, or an IMSM/DDF container). */
  readonly active: boolean;
  readonly readOnly?: "read-only" | "auto-read-only";
  /** The personality (`raid1`, `raid10`, `linear`, ...), `unknown` when the kernel names none (inactive arrays). */
  readonly level: string;
  readonly members: readonly MdMember[];
  readonly blocks?: number;
  /** `[n/m]`: the array's member slots and how many of them are in sync; absent for raid0, linear, containers. */
  readonly slots?: { readonly total: number; readonly working: number };
  /** `[UU_]`: one letter per slot, `U` in sync. */
  readonly pattern?: string;
  /** A recovery, resync, check or reshape running, and how far it is. */
  readonly sync?: { readonly action: SyncAction; readonly percent: number };
  /** `resync=DELAYED`, `resync=PENDING`, `recover=REMOTE` ...: one that is due but not running. */
  readonly pending?: { readonly action: SyncAction; readonly why: "DELAYED" | "PENDING" | "REMOTE" };
  /** 1-based line of its first line. */
  readonly line: number;
}

export interface Unparsed {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

export interface Mdstat {
  readonly arrays: readonly MdArray[];
  readonly unparsed: readonly Unparsed[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Building = Mutable<Omit<MdArray, "members">> & { members: MdMember[] };

const HEAD_RE = /^(md[\w.-]*)\s*:\s*(.*)$/;
const MEMBER_RE = /^([^\s[\]()]+)\[(\d+)\]((?:\([A-Z]\))*)$/;
const LEVEL_RE = /^[a-z][a-z0-9_-]*$/;
const BLOCKS_RE = /^(\d+)\s+blocks\b(.*)$/;
const SLOTS_RE = /\[(\d+)\/(\d+)\]/;
const PATTERN_RE = /\[([U_]+)\]/;
const PROGRESS_RE = /^(?:\[[=>.]*\]\s*)?(recovery|resync|check|reshape)\s*=\s*(\d{1,3}(?:\.\d+)?)%/;
const PENDING_RE = /^(recover|resync|reshape)\s*=\s*(DELAYED|PENDING|REMOTE)$/;
const STATUS_ONLY_RE = /^(?:\[\d+\/\d+\]\s*)?(?:\[[U_]+\])?$/;

/** Parses the text of /proc/mdstat. Never throws. */
export function parseMdstat(text: string): Mdstat {
  const arrays: MdArray[] = [];
  const unparsed: Unparsed[] = [];
  let cur: Building | undefined;
  /** Inside an array whose first line could not be read: its detail lines are skipped with it. */
  let skipping = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    const bad = (reason: string) => unparsed.push({ line: i + 1, text: raw, reason });
    if (line === "") continue;
    if (/^Personalities\s*:/.test(line) || /^unused devices\s*:/.test(line)) {
      if (cur) arrays.push(cur);
      cur = undefined;
      skipping = false;
      continue;
    }
    if (/^read_ahead\b/.test(line)) continue; // Linux 2.4
    const head = HEAD_RE.exec(line);
    if (head) {
      if (cur) arrays.push(cur);
      cur = parseHead(head[1]!, head[2]!, i + 1);
      skipping = cur === undefined;
      if (!cur) bad("an array's first line that is not `NAME : active|inactive [LEVEL] DEVICE[N]...`");
      continue;
    }
    if (skipping) continue;
    if (!cur) {
      bad("a line outside any array");
      continue;
    }
    const why = parseDetail(cur, line);
    if (why) bad(`${why} (array ${cur.name})`);
  }
  if (cur) arrays.push(cur);
  return { arrays, unparsed };
}

function parseHead(name: string, rest: string, line: number): Building | undefined {
  const tokens = rest.split(/\s+/).filter((t) => t !== "");
  const state = tokens.shift();
  if (state !== "active" && state !== "inactive") return undefined;
  const a: Building = { name, active: state === "active", level: "unknown", members: [], line };
  if (tokens[0] === "(read-only)" || tokens[0] === "(auto-read-only)") {
    a.readOnly = tokens.shift()!.slice(1, -1) as "read-only" | "auto-read-only";
  }
  if (tokens[0] !== undefined && !MEMBER_RE.test(tokens[0]) && LEVEL_RE.test(tokens[0])) {
    a.level = tokens.shift()!;
  }
  for (const t of tokens) {
    const m = member(t);
    if (!m) return undefined;
    a.members.push(m);
  }
  return a;
}

function member(token: string): MdMember | undefined {
  const m = MEMBER_RE.exec(token);
  if (!m) return undefined;
  return { device: m[1]!, number: Number(m[2]), flags: m[3]!.replace(/[()]/g, "") };
}

/** Reads one detail line into the array; returns why it could not, or undefined. */
function parseDetail(a: Building, line: string): string | undefined {
  const blocks = BLOCKS_RE.exec(line);
  if (blocks) {
    if (a.blocks !== undefined) return "a second `blocks` line";
    a.blocks = Number(blocks[1]);
    status(a, blocks[2]!);
    return undefined;
  }
  const progress = PROGRESS_RE.exec(line);
  if (progress) {
    const percent = Number(progress[2]);
    if (!(percent >= 0 && percent <= 100)) return "a progress beyond 100%";
    a.sync = { action: progress[1] as SyncAction, percent };
    return undefined;
  }
  const pending = PENDING_RE.exec(line);
  if (pending) {
    const action = (pending[1] === "recover" ? "recovery" : pending[1]) as SyncAction;
    a.pending = { action, why: pending[2] as "DELAYED" | "PENDING" | "REMOTE" };
    return undefined;
  }
  if (/^bitmap:/.test(line)) return undefined;
  // The rest of a line that was wrapped (a mail or a terminal): `[UUUU]`, or more devices of the first line.
  if (STATUS_ONLY_RE.test(line)) {
    status(a, line);
    return undefined;
  }
  const tokens = line.split(/\s+/);
  if (a.blocks === undefined && tokens.every((t) => MEMBER_RE.test(t))) {
    for (const t of tokens) a.members.push(member(t)!);
    return undefined;
  }
  return "a line of an unknown shape";
}

function status(a: Building, text: string): void {
  const slots = SLOTS_RE.exec(text);
  if (slots && a.slots === undefined) a.slots = { total: Number(slots[1]), working: Number(slots[2]) };
  const pattern = PATTERN_RE.exec(text);
  if (pattern && a.pattern === undefined) a.pattern = pattern[1]!;
}

const has = (m: MdMember, flag: string) => m.flags.includes(flag);

/** Members that hold a slot: not faulty, spare, journal or replacement (`(R)` rebuilds a slot another holds). */
function slotted(a: MdArray): number {
  return a.members.filter((m) => !/[FSJR]/.test(m.flags)).length;
}

const DEGRADED = (a: MdArray) => a.slots !== undefined && a.slots.working < a.slots.total;

/**
 * Slots that are missing and that no member is being rebuilt onto. While a recovery runs, the device it rebuilds
 * holds its slot (no `(S)`) but is not yet counted in `[n/m]`; a slot with no device at all waits for a spare.
 */
export function missingNotRebuilt(a: MdArray): number {
  if (!a.slots || !DEGRADED(a)) return 0;
  return Math.max(0, a.slots.total - slotted(a));
}

const ACTION_STATE: Record<SyncAction, MdState> = {
  recovery: "recovering",
  resync: "resyncing",
  check: "checking",
  reshape: "reshaping",
};

/**
 * What the array is doing, one of MD_STATES: `inactive`; else the running operation (`recovering`,
 * `resyncing`, `checking`, `reshaping`); else `degraded` when `[n/m]` has m < n; else a due operation
 * (`resync=DELAYED`/`PENDING`/`REMOTE`); else `clean`.
 */
export function mdState(a: MdArray): MdState {
  if (!a.active) return "inactive";
  if (a.sync) return ACTION_STATE[a.sync.action];
  if (DEGRADED(a)) return "degraded";
  if (a.pending) return ACTION_STATE[a.pending.action];
  return "clean";
}

/**
 * Whether the array's data is redundant (the component state of `md.array`):
 * - `failed`: inactive; or degraded with a missing slot that nothing is being rebuilt onto (whatever else runs).
 * - `warning`: degraded while a recovery rebuilds every missing slot; a resync, reshape or non-degraded recovery
 *   running; or one due (`resync=DELAYED`/`PENDING`/`REMOTE`): redundancy is not (yet) guaranteed.
 * - `ok`: otherwise (clean, or a check running on a complete array). A faulty device that no longer holds a
 *   slot (`(F)` with `[n/n]`) leaves it ok: `md.devices{role=failed}` counts it.
 */
export function arrayHealth(a: MdArray): "ok" | "warning" | "failed" {
  if (!a.active) return "failed";
  if (DEGRADED(a)) return a.sync?.action === "recovery" && missingNotRebuilt(a) === 0 ? "warning" : "failed";
  if (a.sync && a.sync.action !== "check") return "warning";
  if (a.pending) return "warning";
  return "ok";
}

/**
 * `md.devices`: `total` the array's slots (`n` of `[n/m]`; without it, the devices that hold a slot); `active`
 * the slots in sync (`m`; without it, the same as total; 0 when inactive); `failed` the `(F)` devices; `spare` the
 * `(S)` devices (an inactive array's devices are all marked spare by the kernel).
 */
export function deviceCounts(a: MdArray): Record<MdRole, number> {
  const total = a.slots?.total ?? slotted(a);
  const active = !a.active ? 0 : (a.slots?.working ?? slotted(a));
  return {
    total,
    active,
    failed: a.members.filter((m) => has(m, "F")).length,
    spare: a.members.filter((m) => has(m, "S")).length,
  };
}

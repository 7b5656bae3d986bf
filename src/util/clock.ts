import { performance } from "node:perf_hooks";

/**
 * Time in standby (DESIGN "Time"): decisions, windows and timers run on a monotonic clock; wall-clock time
 * only stamps events and points for people.
 *
 * The monotonic clock is anchored at the wall clock when the process starts, so its values look like epoch
 * milliseconds (readable in logs, comparable with a saved state), but it never steps: an NTP step or a VM
 * resume moves `wallNow()` and leaves `monoNow()` alone. `toWall` converts a monotonic time to the wall time
 * of the same instant, with the offset in force now.
 */
const anchor = Date.now() - performance.now();

/** Monotonic milliseconds, epoch-like (anchored at process start). */
export function monoNow(): number {
  return anchor + performance.now();
}

/** Wall-clock milliseconds since the epoch (display only). */
export function wallNow(): number {
  return Date.now();
}

/** The wall-clock time of a monotonic instant, with the current offset between the two clocks. */
export function toWall(mono: number, clock: Clock = systemClock): number {
  return Math.round(mono + (clock.wall() - clock.mono()));
}

/** The monotonic time of a wall-clock instant (a saved deadline, an operator's `--until`). */
export function fromWall(wall: number, clock: Clock = systemClock): number {
  return wall - (clock.wall() - clock.mono());
}

/** Both clocks, as a parameter so tests can step one without the other. */
export interface Clock {
  /** Monotonic ms: decisions, windows, timers, sample timestamps. */
  mono(): number;
  /** Wall ms: event timestamps, display. */
  wall(): number;
}

export const systemClock: Clock = { mono: monoNow, wall: wallNow };

/**
 * A clock whose `wall() - mono()` is `clock`'s offset between wall and monotonic time, followed when it moves by
 * 2 ms or more (a clock step, NTP slewing) but not for the sub-millisecond jitter of reading two clocks: events
 * that are 3 s apart on the monotonic clock are 3 s apart in the event log. Its `mono()` is 0: for toWall/fromWall.
 */
export function steadyOffsetClock(clock: Clock): Clock {
  let offset = clock.wall() - clock.mono();
  return {
    mono: () => 0,
    wall: () => {
      const off = clock.wall() - clock.mono();
      if (Math.abs(off - offset) >= 2) offset = off;
      return offset;
    },
  };
}

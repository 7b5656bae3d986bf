/** setTimeout's longest delay; a later deadline re-arms the timer instead of ticking early. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One timer, at the pipeline's next deadline (a `for`, a hold, a stale_after, a pin expiry…): `arm(d)` replaces
 * it, `arm(undefined)` stops it. A deadline beyond setTimeout's range (24.8 days) re-arms the timer when it wakes,
 * without firing; setTimeout can fire a millisecond early, so `fire` gets the deadline, not an earlier now.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Monotonic ms. */
    private readonly now: () => number,
    private readonly fire: (at: number) => void,
    /** `fire` threw (the timer is re-armed by the caller). */
    private readonly failed: (err: Error) => void,
  ) {}

  arm(deadline: number | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (deadline === undefined) return;
    const delay = Math.max(0, deadline - this.now());
    if (delay > MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.arm(deadline), MAX_TIMER_MS);
      return;
    }
    this.timer = setTimeout(() => {
      try {
        this.fire(Math.max(this.now(), deadline));
      } catch (err) {
        this.failed(err as Error);
      }
    }, delay);
  }
}

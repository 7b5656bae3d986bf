/**
 * A job that runs one at a time: `kick()` starts it, or — while it runs — asks for exactly one more run after it,
 * however many kicks came meanwhile (the etcd election's and the votes' re-reads).
 */
export class Coalesced {
  private running: Promise<void> | undefined;
  private pending = false;

  constructor(
    private readonly job: () => Promise<void>,
    private readonly onError: (e: Error) => void,
    private readonly stopped: () => boolean = () => false,
  ) {}

  kick(): void {
    if (this.stopped()) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = this.job()
      .catch((e: Error) => this.onError(e))
      .finally(() => {
        this.running = undefined;
        if (this.pending) {
          this.pending = false;
          this.kick();
        }
      });
  }

  /** One more run after the one in progress (from inside the job: it found work it could not finish). */
  again(): void {
    this.pending = true;
  }

  /** Resolves when no run is in progress or pending. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }
}

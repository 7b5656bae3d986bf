/** Flap detection, as Nagios does it: percent state change over the last N verdicts, newer ones weighing more. */
import type { Instance } from "./instance.js";

/**
 * Nagios-style percent state change over the last `history` verdicts (a shift register, newest in bit 0),
 * newer changes weighing more.
 */
export function recordFlap(inst: Instance): void {
  const spec = inst.compiled.flap!;
  const size = spec.history;
  const bit = inst.phase === "firing" || inst.phase === "recovering" ? 1 : 0;
  inst.flapBits = ((inst.flapBits << 1) | bit) >>> 0;
  if (inst.flapLen < size) inst.flapLen++;
  const n = inst.flapLen;
  // Bit i of `changes` is set when verdicts i and i+1 (0 = newest) differ; only n-1 pairs count.
  const changes = (inst.flapBits ^ (inst.flapBits >>> 1)) & (n >= 32 ? 0x7fffffff : (1 << (n - 1)) - 1);
  if (changes === 0 && !inst.flapping) return; // the common case: a steady verdict
  let changed = 0;
  for (let i = 0; i < n - 1; i++) {
    // Pair i is the (n-1-i)-th transition from the oldest: weights run 0.8 (oldest) → 1.2 (newest).
    if (changes & (1 << i)) changed += n > 2 ? 0.8 + (0.4 * (n - 2 - i)) / (n - 2) : 1;
  }
  const pct = (changed * 100) / (size - 1);
  if (!inst.flapping && pct >= spec.high) {
    inst.flapping = true;
    inst.reason = `${inst.compiled.spec.name} flapping: ${pct.toFixed(1)}% state change over the last ${n} evaluations (high ${spec.high}%)`;
  } else if (inst.flapping && pct < spec.low) {
    inst.flapping = false;
    inst.reason = `${inst.compiled.spec.name} stopped flapping: ${pct.toFixed(1)}% state change over the last ${n} evaluations (low ${spec.low}%)`;
  }
}

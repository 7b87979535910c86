// The calling thread's side of the thread team's job protocol (team.ts; @bitvit/bitnet's table
// kernel runtime has a protocol of its own): one Int32 slot holds
// `job tag << 16 | units not yet claimed`, and every thread claims units from it by
// compare-and-swap while the tag is its job's. The caller takes units too and then waits for the
// units a worker has claimed to finish - never for a worker to wake: a worker scheduled late finds
// nothing left and sleeps again. (The workers' side is in team.ts's worker source.)

/** How long the caller busy-waits for the workers' last units before it sleeps. */
const CALLER_SPIN_MS = 1;

/** The most units one job can have: the low 16 bits of the claim slot. */
export const MAX_CLAIM_UNITS = 0xffff;

/** Where a pool keeps the protocol's three slots in its control block. */
export interface ClaimSlots {
  /** job tag << 16 | units not yet claimed */
  claim: number;
  /** units of the current job finished */
  finished: number;
  /** the tag of the latest job; the workers sleep on it */
  go: number;
}

/** The tag after `tag` (1..0x7fff, so a claim slot stays a positive Int32). */
export function nextTag(tag: number): number {
  return (tag % 0x7fff) + 1;
}

/**
 * Posts job `tag` of `count` units (its parameters already stored where the workers read them),
 * wakes the workers, runs units on this thread through runHere(unit) until none are left, and
 * returns once every unit has finished - also when runHere throws (the units nobody claimed yet
 * are taken off first), so the control block is never reused under a running worker.
 */
export function runClaimed(ctl: Int32Array, slots: ClaimSlots, tag: number, count: number, runHere: (unit: number) => void): void {
  if (count > MAX_CLAIM_UNITS) throw new Error(`runClaimed: ${count} units, at most ${MAX_CLAIM_UNITS}`);
  const { claim, finished, go } = slots;
  Atomics.store(ctl, finished, 0);
  Atomics.store(ctl, claim, (tag << 16) | count);
  Atomics.store(ctl, go, tag);
  Atomics.notify(ctl, go);
  try {
    for (;;) {
      const c = Atomics.load(ctl, claim);
      if ((c & MAX_CLAIM_UNITS) === 0) break;
      if (Atomics.compareExchange(ctl, claim, c, c - 1) !== c) continue;
      try {
        runHere((c & MAX_CLAIM_UNITS) - 1);
      } finally {
        Atomics.add(ctl, finished, 1);
      }
    }
  } finally {
    for (let c; ((c = Atomics.load(ctl, claim)) & MAX_CLAIM_UNITS) !== 0; ) {
      if (Atomics.compareExchange(ctl, claim, c, c & ~MAX_CLAIM_UNITS) === c) Atomics.add(ctl, finished, c & MAX_CLAIM_UNITS);
    }
    // the claimed units are running: busy-wait a while first (a caller woken from Atomics.wait
    // takes 30-60 us to run again on this machine, as long as a small job's unit), then sleep
    // (the clock only every 4096 turns: performance.now() allocates, and collecting that garbage
    // takes helper threads, so cores, from the workers)
    const spinUntil = performance.now() + CALLER_SPIN_MS;
    for (let turn = 0; Atomics.load(ctl, finished) < count; turn++) if ((turn & 4095) === 0 && performance.now() >= spinUntil) break;
    for (let done; (done = Atomics.load(ctl, finished)) < count; ) Atomics.wait(ctl, finished, done);
  }
}

// The one source of randomness: a seeded generator (seedrandom's Alea), so a seed repeats a run exactly.
import seedrandom from 'seedrandom';

/** Opaque generator state, JSON-serialisable, for checkpoints. */
export type GeneratorState = { seed: string; alea: seedrandom.State.Alea; spare: number | null };

export class Generator {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Alea>;
  private seed: string;
  private spare: number | null = null; // Box-Muller makes normals in pairs; keep the second

  constructor(seed: number | string = 0) {
    this.seed = String(seed);
    this.prng = seedrandom.alea(this.seed, { state: true });
  }

  /** Uniform in [0, 1). */
  random(): number {
    return this.prng();
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.prng(); // log(0) would be -inf
    const v = this.prng();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [low, high). */
  int(low: number, high: number): number {
    return low + Math.floor(this.prng() * (high - low));
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.prng() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  getState(): GeneratorState {
    return { seed: this.seed, alea: this.prng.state(), spare: this.spare };
  }

  setState(state: GeneratorState): void {
    this.seed = state.seed;
    this.prng = seedrandom.alea('', { state: { ...state.alea } });
    this.spare = state.spare;
  }
}

let global = new Generator(0);

/** Seed the global generator (what `rand`, `randn`, init and dropout use by default). */
export function manualSeed(seed: number | string): void {
  global = new Generator(seed);
}

export function defaultGenerator(): Generator {
  return global;
}

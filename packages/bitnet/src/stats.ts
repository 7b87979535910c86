// Ternary statistics of a BitNet model: the share of -1/0/+1 codes per layer, the scale, and how
// many codes flipped since the last call. Flips are a training health signal: many late flips
// mean the latent weights sit on the rounding thresholds (weight decay pushes them there).
import type { Module } from '@bitvit/nn';
import { BitLinear } from './bitlinear.js';
import { absmeanScale, ternaryCodes } from './quantizers.js';
import { bitLinears } from './convert.js';

export interface LayerTernaryStats {
  name: string;
  count: number;
  minusShare: number;
  zeroShare: number;
  plusShare: number;
  /** gamma, the absmean scale (its mean over channels for per-channel scales). */
  scale: number;
  /** Codes that changed since the previous call for this layer (0 on the first). */
  flips: number;
}

export interface ModelTernaryStats {
  layers: LayerTernaryStats[];
  minusShare: number;
  zeroShare: number;
  plusShare: number;
  flips: number;
  /** flips / codes. */
  flipRate: number;
}

/** Tracks codes between calls, so flips are counted per tracker (one per training run). */
export class TernaryTracker {
  private readonly previous = new WeakMap<BitLinear, Int8Array>();

  stats(model: Module): ModelTernaryStats {
    const layers: LayerTernaryStats[] = [];
    let minus = 0;
    let zero = 0;
    let plus = 0;
    let flips = 0;
    let total = 0;
    for (const { name, module } of bitLinears(model)) {
      const scale = absmeanScale(module.weight, module.weightScale);
      const codes = ternaryCodes(module.weight, scale);
      let m = 0;
      let z = 0;
      for (const c of codes) {
        if (c < 0) m++;
        else if (c === 0) z++;
      }
      const prev = this.previous.get(module);
      let f = 0;
      if (prev && prev.length === codes.length) for (let i = 0; i < codes.length; i++) if (prev[i] !== codes[i]) f++;
      this.previous.set(module, codes);
      const n = codes.length;
      const s = scale.data;
      layers.push({
        name, count: n, minusShare: m / n, zeroShare: z / n, plusShare: (n - m - z) / n,
        scale: s.reduce((a, b) => a + b, 0) / s.length, flips: f,
      });
      minus += m;
      zero += z;
      plus += n - m - z;
      flips += f;
      total += n;
    }
    const t = Math.max(total, 1);
    return { layers, minusShare: minus / t, zeroShare: zero / t, plusShare: plus / t, flips, flipRate: flips / t };
  }
}

const defaultTracker = new TernaryTracker();

/** Stats with flips counted since the previous call on the same model (a shared default tracker). */
export function ternaryStats(model: Module): ModelTernaryStats {
  return defaultTracker.stats(model);
}

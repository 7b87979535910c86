// Model storage under each scheme, counting everything (embeddings, norms, biases, float layers),
// as the study's storage chart did. Ternary weights cost their scheme's bits plus float32 scales;
// every other tensor stays float32 (float16 in the float16 scheme).
import { Linear, type Module } from '@bitvit/nn';
import { BitLinear } from './bitlinear.js';
import { TernaryLinear } from './ternary-linear.js';
import { packedBytes } from './packing.js';
import { absmeanScale, ternaryCodes } from './quantizers.js';

export type StorageScheme = 'float32' | 'float16' | 'int8' | 'i2' | 't3' | 'log2(3)' | 'entropy';

export interface StorageReport {
  /** Bytes of the whole model's tensors under each scheme (no file header). */
  bytes: Record<StorageScheme, number>;
  /** Weights stored ternary, and every other parameter value. */
  ternaryWeights: number;
  floatValues: number;
  ternaryLayers: number;
  /** Shannon entropy of the code distribution, bits per ternary weight (<= log2 3 = 1.585). */
  codeEntropyBits: number;
}

interface LayerShape {
  rows: number;
  cols: number;
  scales: number;
  codes?: Int8Array;
}

/**
 * Storage of a model's tensors per scheme. BitLinear and TernaryLinear layers count as ternary;
 * with `asIfConverted`, plain Linear layers do too (what a float model would take once converted).
 */
export function storageReport(model: Module, opts: { asIfConverted?: boolean } = {}): StorageReport {
  const layers: LayerShape[] = [];
  const ternaryParams = new Set<unknown>();
  for (const [, m] of model.namedModules()) {
    if (m instanceof BitLinear) {
      const scale = absmeanScale(m.weight, m.weightScale);
      layers.push({ rows: m.outFeatures, cols: m.inFeatures, scales: scale.size, codes: ternaryCodes(m.weight, scale) });
      ternaryParams.add(m.weight);
    } else if (m instanceof TernaryLinear) {
      layers.push({ rows: m.outFeatures, cols: m.inFeatures, scales: m.weightScale.length, codes: m.codes() });
    } else if (opts.asIfConverted && m instanceof Linear) {
      const scale = absmeanScale(m.weight, 'tensor');
      layers.push({ rows: m.outFeatures, cols: m.inFeatures, scales: 1, codes: ternaryCodes(m.weight, scale) });
      ternaryParams.add(m.weight);
    }
  }
  let floatValues = 0;
  for (const [, t] of model.stateDict()) if (!ternaryParams.has(t)) floatValues += t.size;
  const counts = [0, 0, 0];
  let ternaryWeights = 0;
  let scales = 0;
  const sum = (f: (l: LayerShape) => number): number => layers.reduce((a, l) => a + f(l), 0);
  for (const l of layers) {
    ternaryWeights += l.rows * l.cols;
    scales += l.scales;
    if (l.codes) for (const c of l.codes) counts[c + 1]!++;
  }
  const total = Math.max(1, counts[0]! + counts[1]! + counts[2]!);
  const codeEntropyBits = -counts.reduce((h, c) => (c === 0 ? h : h + (c / total) * Math.log2(c / total)), 0);
  const rest = floatValues * 4 + scales * 4;
  return {
    bytes: {
      float32: (floatValues + ternaryWeights) * 4,
      float16: (floatValues + ternaryWeights) * 2,
      int8: ternaryWeights + rest,
      i2: sum((l) => packedBytes('i2', l.rows, l.cols)) + rest,
      t3: sum((l) => packedBytes('t3', l.rows, l.cols)) + rest,
      'log2(3)': Math.ceil((ternaryWeights * Math.log2(3)) / 8) + rest,
      entropy: Math.ceil((ternaryWeights * codeEntropyBits) / 8) + rest,
    },
    ternaryWeights,
    floatValues,
    ternaryLayers: layers.length,
    codeEntropyBits,
  };
}

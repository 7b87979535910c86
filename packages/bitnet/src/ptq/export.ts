// From PTQ to the packed format: a symmetric single-plane QuantizedLinear is exactly a
// TernaryLinear (codes, scales, bias; 8-bit dynamic or float activations), so a PTQ model made
// of those can be saved packed and run on the ternary kernel. Zero points, second planes and
// static activation scales have no place in that format; such layers are reported, not converted.
import type { Module } from '@bitvit/nn';
import { replaceModules } from '../convert.js';
import { TernaryLinear } from '../ternary-linear.js';
import { packI2 } from '../packing.js';
import { QuantizedLinear } from './quantized-linear.js';

/** Why a layer cannot become a TernaryLinear, or null when it can. */
export function packedIncompatibility(q: QuantizedLinear): string | null {
  if (q.weights.beta) return 'asymmetric (zero point)';
  if (q.weights.planes.length !== 1) return `${q.weights.planes.length} ternary planes`;
  if (q.activations === 'static') return 'static activation scale';
  return null;
}

/** Replace every convertible QuantizedLinear with a TernaryLinear; returns the names left as they were. */
export function ptqToTernary(model: Module): { converted: string[]; kept: Array<{ name: string; reason: string }> } {
  const kept: Array<{ name: string; reason: string }> = [];
  const converted = replaceModules(
    model,
    QuantizedLinear,
    (name, q) => {
      const why = packedIncompatibility(q);
      if (why) kept.push({ name, reason: why });
      return why === null;
    },
    (q) => {
      const plane = q.weights.planes[0]!;
      return new TernaryLinear({
        inFeatures: q.inFeatures, outFeatures: q.outFeatures, packed: packI2(plane.codes, q.outFeatures, q.inFeatures),
        weightScale: Float32Array.from(plane.alpha), bias: q.bias ? q.bias.data : null,
        activationBits: q.activations === 'dynamic' ? 8 : null,
      });
    },
  );
  return { converted: converted.map((c) => c.name), kept };
}

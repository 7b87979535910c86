// Resizing learned position embeddings to a new patch grid (fine-tuning at another image size),
// as timm's resample_abs_pos_embed and HF's interpolate_pos_encoding: the grid part is treated
// as an image with `hidden` channels and resized; the CLS/distillation tokens are kept as they are.
import { Tensor, shapeStr } from '@bitvit/tensor';

export type ResizeMode = 'bicubic' | 'bilinear';

/** PyTorch's cubic convolution kernel with a = -0.75 (F.interpolate's 'bicubic'). */
function cubicWeights(t: number): [number, number, number, number] {
  const a = -0.75;
  const w = (x: number): number => {
    x = Math.abs(x);
    if (x <= 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
    if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
    return 0;
  };
  return [w(t + 1), w(t), w(1 - t), w(2 - t)];
}

/**
 * Resize a [h, w, channels] grid to [nh, nw, channels] with align_corners=False sampling,
 * as F.interpolate (bicubic samples clamp at the borders, bilinear clamps source coords at 0).
 */
export function resizeGrid(grid: Float32Array, h: number, w: number, channels: number, nh: number, nw: number, mode: ResizeMode): Float32Array {
  const out = new Float32Array(nh * nw * channels);
  const sy = h / nh;
  const sx = w / nw;
  const at = (y: number, x: number, c: number): number => {
    const yy = Math.min(Math.max(y, 0), h - 1);
    const xx = Math.min(Math.max(x, 0), w - 1);
    return grid[(yy * w + xx) * channels + c]!;
  };
  for (let oy = 0; oy < nh; oy++) {
    for (let ox = 0; ox < nw; ox++) {
      let fy = (oy + 0.5) * sy - 0.5;
      let fx = (ox + 0.5) * sx - 0.5;
      const o = (oy * nw + ox) * channels;
      if (mode === 'bilinear') {
        fy = Math.max(fy, 0);
        fx = Math.max(fx, 0);
        const y0 = Math.floor(fy);
        const x0 = Math.floor(fx);
        const y1 = Math.min(y0 + 1, h - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const ty = fy - y0;
        const tx = fx - x0;
        for (let c = 0; c < channels; c++) {
          out[o + c] =
            (1 - ty) * ((1 - tx) * at(y0, x0, c) + tx * at(y0, x1, c)) + ty * ((1 - tx) * at(y1, x0, c) + tx * at(y1, x1, c));
        }
      } else {
        const y0 = Math.floor(fy);
        const x0 = Math.floor(fx);
        const wy = cubicWeights(fy - y0);
        const wx = cubicWeights(fx - x0);
        for (let c = 0; c < channels; c++) {
          let v = 0;
          for (let i = 0; i < 4; i++) {
            let row = 0;
            for (let j = 0; j < 4; j++) row += wx[j]! * at(y0 - 1 + i, x0 - 1 + j, c);
            v += wy[i]! * row;
          }
          out[o + c] = v;
        }
      }
    }
  }
  return out;
}

/**
 * [1, prefix + h*w, hidden] position embeddings -> [1, prefix + nh*nw, hidden]. `prefix` is the
 * number of leading non-grid tokens (1 for ViT's CLS, 2 for DeiT's CLS + distillation).
 */
export function interpolatePositionEmbeddings(pos: Tensor, prefix: number, newGrid: [number, number], mode: ResizeMode = 'bicubic'): Tensor {
  const [one, n, hidden] = pos.shape as [number, number, number];
  const side = Math.round(Math.sqrt(n - prefix));
  if (pos.ndim !== 3 || one !== 1 || side * side !== n - prefix) {
    throw new Error(`interpolatePositionEmbeddings: ${shapeStr(pos.shape)} is not [1, ${prefix} + a square grid, hidden]`);
  }
  const [nh, nw] = newGrid;
  if (nh === side && nw === side) return new Tensor(Float32Array.from(pos.data), pos.shape);
  const data = pos.data;
  const resized = resizeGrid(data.subarray(prefix * hidden), side, side, hidden, nh, nw, mode);
  const out = new Float32Array((prefix + nh * nw) * hidden);
  out.set(data.subarray(0, prefix * hidden));
  out.set(resized, prefix * hidden);
  return new Tensor(out, [1, prefix + nh * nw, hidden]);
}

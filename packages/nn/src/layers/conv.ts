// Conv2d with kernel = stride (a patch embedding), computed as unfold + matmul:
// cut the image into non-overlapping P x P patches, flatten each (channel, row, col) - the
// order of the weight's [out, C, P, P] layout - and apply one Linear. Gradients come from the
// reshape/permute/linear ops, so no separate convolution backward is needed.
import { linear, shapeStr, zeros, type Generator, type Tensor } from '@bitvit/tensor';
import { Module, Parameter } from '../module.js';
import { kaimingUniform_, uniform_ } from '../init.js';

/** [B, C, H, W] -> [B, (H/P)*(W/P), C*P*P], patches in row-major order over the grid. */
export function unfoldPatches(x: Tensor, patch: number): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  if (x.ndim !== 4 || h % patch !== 0 || w % patch !== 0) {
    throw new Error(`unfoldPatches: input ${shapeStr(x.shape)} is not [B, C, H, W] with H and W multiples of ${patch}`);
  }
  const gh = h / patch;
  const gw = w / patch;
  return x
    .reshape(b, c, gh, patch, gw, patch)
    .permute(0, 2, 4, 1, 3, 5)
    .reshape(b, gh * gw, c * patch * patch);
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, opts: { stride?: number; bias?: boolean; generator?: Generator } = {}) {
    super();
    const stride = opts.stride ?? kernelSize;
    if (stride !== kernelSize) {
      throw new Error(`Conv2d: only kernel_size = stride (patch embedding) is supported, got kernel ${kernelSize}, stride ${stride}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    const w = Parameter.from(zeros([outChannels, inChannels, kernelSize, kernelSize]));
    kaimingUniform_(w, Math.sqrt(5), opts.generator); // PyTorch's Conv2d default
    this.weight = this.addParameter('weight', w);
    let b: Parameter | null = null;
    if (opts.bias ?? true) {
      b = Parameter.from(zeros([outChannels]));
      const bound = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
      uniform_(b, -bound, bound, opts.generator);
    }
    this.bias = this.addParameter('bias', b);
  }

  /** [B, C, H, W] -> [B, (H/P)*(W/P), out]: the token sequence a ViT wants, without a transpose. */
  forwardTokens(x: Tensor): Tensor {
    if (x.shape[1] !== this.inChannels) {
      throw new Error(`Conv2d: input ${shapeStr(x.shape)} has ${x.shape[1]} channels, expected ${this.inChannels}`);
    }
    const patches = unfoldPatches(x, this.kernelSize);
    const w2 = this.weight.reshape(this.outChannels, this.inChannels * this.kernelSize * this.kernelSize);
    return linear(patches, w2, this.bias);
  }

  /** [B, C, H, W] -> [B, out, H/P, W/P], as torch.nn.Conv2d. */
  forward(x: Tensor): Tensor {
    const [b, , h, w] = x.shape as [number, number, number, number];
    const p = this.kernelSize;
    return this.forwardTokens(x).reshape(b, h / p, w / p, this.outChannels).permute(0, 3, 1, 2);
  }

  override extraRepr(): string {
    const k = this.kernelSize;
    // torch.nn.Conv2d mentions the bias only when there is none.
    return `${this.inChannels}, ${this.outChannels}, kernel_size=(${k}, ${k}), stride=(${k}, ${k})${this.bias ? '' : ', bias=False'}`;
  }
}

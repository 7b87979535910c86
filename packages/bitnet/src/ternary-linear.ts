// TernaryLinear: the inference-only layer a packed BitNet model runs on. Weights stay packed
// (2 bits each); each forward quantizes activations to int8 per token and runs a ternary matmul
// on the integer codes (by default the int8 dot-product kernel; the multiply-free table and
// unrolled kernels when asked: dotMinTokens, dotVariants), rescaling once:
//   y = (xInt8 @ Wt^T) * (gamma / s) + b        (BITNET.md section 1, inference)
// The result equals BitLinear's fake-quant forward up to float rounding of that rescale.
import { Tensor, allocFloats, keep, linear, noGrad, shapeStr, zeros } from '@bitvit/tensor';
import { LayerNorm, Module, Parameter, RMSNorm, type SharedInputLayer } from '@bitvit/nn';
import { BitLinear, type InputNorm } from './bitlinear.js';
import { absmeanScale, ternaryCodes } from './quantizers.js';
import { packI2, unpackBase3, unpackI2, type TernaryScheme, packedRowBytes } from './packing.js';
import { quantizeActivationsInt8 } from './kernels/quantize-activations.js';
import { ternaryMatmulI2 } from './kernels/ternary-matmul.js';
import { TernaryMatmulI2Wasm, wasmTernaryAvailable } from './kernels/ternary-wasm.js';
import { TernaryMatmulUnrolled, UNROLLED_MIN_TOKENS } from './kernels/ternary-unrolled.js';
import { TernaryMatmulDot, type DotVariant } from './kernels/ternary-dot.js';

type Kernel = TernaryMatmulDot | TernaryMatmulUnrolled | TernaryMatmulI2Wasm;

export class TernaryLinear extends Module implements SharedInputLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** i2-packed codes (the kernel's format, whatever the file's scheme was). */
  readonly packed: Uint8Array;
  /** gamma: one value, or one per output row. W = codes * gamma (the multiply convention). */
  readonly weightScale: Float32Array;
  readonly activationBits: number | null;
  readonly inputNorm: InputNorm;
  bias: Parameter | null;
  norm: (Module & { forward(x: Tensor): Tensor }) | null;
  private kernel: TernaryMatmulI2Wasm | null | undefined;
  private unrolled: TernaryMatmulUnrolled | null | undefined;
  private dot: TernaryMatmulDot | null | undefined;
  /** Calls with at least this many tokens use the int8 dot-product kernel (kernels/ternary-dot.ts):
   *  its relaxed variant where the engine has relaxed SIMD's dot product (Node 22+; Node 20 with
   *  enableRelaxedSimd(), which the CLI and `pnpm bench` call), 1.2-4.5x the float GEMM per layer
   *  where the table kernel gave 0.6-2.9x, and in a whole model ahead of the unrolled kernel too
   *  (vit-mnist at batch 64: 9.4-10.3 ms a forward against 11.0-13.3; the unrolled kernels' code,
   *  40-80 KiB a layer, no longer fits the caches when 24 layers take turns); else its i16
   *  variant on plain SIMD (see dotVariants). Infinity: never (the kernels below decide). Same
   *  floats either way. */
  static dotMinTokens = 1;
  /** The dot kernel's variants a layer may run, the first the engine has (read when the layer
   *  first runs the dot kernel): 'relaxed' (relaxed SIMD)
   *  and 'i16' (plain SIMD's int16 dot product, half the multiply-adds an instruction). Without
   *  relaxed SIMD the i16 variant was 1.5-4x the table kernel and 1.2-2.7x the float GEMM per
   *  layer (two threads, 17-4160 tokens; about even with the unrolled kernel at 1088). */
  static dotVariants: readonly DotVariant[] = ['relaxed', 'i16'];
  /** Without the dot kernel, calls with at least this many tokens use the unrolled add/sub kernel
   *  (kernels/ternary-unrolled.ts) where the layer is small enough for it; fewer tokens use the
   *  packed table kernel. All give the same floats. Infinity: never unrolled; 0: always where possible. */
  static unrolledMinTokens = UNROLLED_MIN_TOKENS;
  private dequantized: Tensor | null = null;

  constructor(opts: {
    inFeatures: number; outFeatures: number; packed: Uint8Array; weightScale: Float32Array;
    bias: Float32Array | null; activationBits: number | null; inputNorm?: InputNorm;
  }) {
    super();
    this.inFeatures = opts.inFeatures;
    this.outFeatures = opts.outFeatures;
    const expect = opts.outFeatures * packedRowBytes('i2', opts.inFeatures);
    if (opts.packed.length !== expect) {
      throw new Error(`TernaryLinear: packed weights have ${opts.packed.length} bytes, expected ${expect} for ${opts.outFeatures}x${opts.inFeatures}`);
    }
    if (opts.weightScale.length !== 1 && opts.weightScale.length !== opts.outFeatures) {
      throw new Error(`TernaryLinear: ${opts.weightScale.length} weight scales for ${opts.outFeatures} outputs`);
    }
    if (opts.activationBits !== null && opts.activationBits !== 8) {
      throw new Error(`TernaryLinear: the packed kernel takes 8-bit activations, not ${opts.activationBits}`);
    }
    this.packed = opts.packed;
    this.weightScale = opts.weightScale;
    this.activationBits = opts.activationBits;
    this.inputNorm = opts.inputNorm ?? 'none';
    const bias = opts.bias ? new Parameter(Float32Array.from(opts.bias), [opts.outFeatures]) : null;
    if (bias) bias.requiresGrad = false;
    this.bias = this.addParameter('bias', bias);
    const norm = this.inputNorm === 'rmsnorm' ? new RMSNorm(this.inFeatures) : this.inputNorm === 'layernorm' ? new LayerNorm(this.inFeatures) : null;
    this.norm = norm ? this.addModule('norm', norm) : null;
    for (const p of this.norm?.parameters() ?? []) p.requiresGrad = false;
  }

  /** Quantize a BitLinear's latent weights once and pack them. */
  static fromBitLinear(b: BitLinear): TernaryLinear {
    const scale = absmeanScale(b.weight, b.weightScale);
    const codes = ternaryCodes(b.weight, scale);
    const t = new TernaryLinear({
      inFeatures: b.inFeatures, outFeatures: b.outFeatures, packed: packI2(codes, b.outFeatures, b.inFeatures),
      weightScale: Float32Array.from(scale.data), bias: b.bias ? b.bias.data : null,
      activationBits: b.activationBits, inputNorm: b.inputNorm,
    });
    if (b.norm && t.norm) t.norm.loadStateDict(b.norm.stateDict());
    return t;
  }

  /** A layer from stored codes in either packing scheme. */
  static fromPacked(scheme: TernaryScheme, packed: Uint8Array, opts: Omit<ConstructorParameters<typeof TernaryLinear>[0], 'packed'>): TernaryLinear {
    const i2 = scheme === 'i2' ? packed : packI2(unpackBase3(packed, opts.outFeatures, opts.inFeatures), opts.outFeatures, opts.inFeatures);
    return new TernaryLinear({ ...opts, packed: i2 });
  }

  /** The ternary codes [out, in]. */
  codes(): Int8Array {
    return unpackI2(this.packed, this.outFeatures, this.inFeatures);
  }

  forward(x: Tensor): Tensor {
    return noGrad(() => {
      if (x.shape[x.ndim - 1] !== this.inFeatures) {
        throw new Error(`TernaryLinear: input ${shapeStr(x.shape)} does not end in ${this.inFeatures}`);
      }
      const xn = this.norm ? this.norm.forward(x) : x;
      if (this.activationBits === null) return linear(xn, this.dequantizedWeight(), this.bias);
      const tokens = xn.size / this.inFeatures;
      const out = allocFloats(tokens * this.outFeatures); // from the storage pool: the next kernels read it in place
      const bias = this.bias ? this.bias.data : null;
      const kernel = this.kernelObject(tokens);
      if (kernel) {
        kernel.linear(xn.data, tokens, this.weightScale, bias, out); // quantizes x to int8 inside WebAssembly, any of the three
      } else {
        const codes = new Int8Array(xn.size);
        const actScale = new Float32Array(tokens);
        quantizeActivationsInt8(xn.data, tokens, this.inFeatures, codes, actScale);
        ternaryMatmulI2(codes, tokens, this.inFeatures, this.packed, this.outFeatures, this.weightScale, actScale, bias, out);
      }
      return new Tensor(out, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }

  /**
   * What this layer does to its input alone, as a key (nn's SharedInputLayer): TernaryLinears with
   * int8 activations and no input norm quantize an input the same way, so attention's q, k and v
   * run as one group (forwardGroup).
   */
  get inputKey(): string | null {
    if (this.norm) return null;
    return this.activationBits === null ? 'ternary-float' : 'ternary-int8';
  }

  /** The input as the kernels take it: x itself (they quantize inside). */
  prepare(x: Tensor): Tensor {
    return x;
  }

  /** forward(x) where prepare(x) is x (a layer without an input norm; one with a norm is never
   *  shared, its key being null). */
  forwardPrepared(x: Tensor): Tensor {
    return this.forward(x);
  }

  /**
   * Layers on the same input: where all of them run the dot kernel at this many tokens, one
   * TernaryMatmulDot.linearGroup call (x quantized once, the layers' work shared by the threads as
   * one job); else one forward each. Same floats either way.
   */
  forwardGroup(layers: readonly SharedInputLayer[], x: Tensor): Tensor[] {
    const group = layers.filter((l): l is TernaryLinear => l instanceof TernaryLinear);
    const tokens = x.size / this.inFeatures;
    const kernels = group.map((l) => (l.inFeatures === this.inFeatures && !l.norm && l.activationBits !== null ? l.kernelObject(tokens) : null));
    if (group.length !== layers.length || x.shape[x.ndim - 1] !== this.inFeatures || !kernels.every((k) => k instanceof TernaryMatmulDot)) {
      return layers.map((l) => l.forwardPrepared(l.prepare(x)));
    }
    return noGrad(() => {
      const outs = group.map((l) => allocFloats(tokens * l.outFeatures));
      TernaryMatmulDot.linearGroup(
        group.map((l, i) => ({ kernel: kernels[i] as TernaryMatmulDot, weightScale: l.weightScale, bias: l.bias ? l.bias.data : null, out: outs[i]! })),
        x.data, tokens,
      );
      return outs.map((out, i) => new Tensor(out, [...x.shape.slice(0, -1), group[i]!.outFeatures]));
    });
  }

  /** The kernel a forward over `tokens` rows runs: the dot kernel (relaxed SIMD's or plain SIMD's
   *  variant, dotVariants); else, for many tokens and a small layer, the unrolled kernel; else the
   *  table kernel; null without WebAssembly SIMD (the TypeScript reference then). */
  private kernelObject(tokens: number): Kernel | null {
    return (
      (tokens >= TernaryLinear.dotMinTokens ? this.dotKernel() : null) ??
      (tokens >= TernaryLinear.unrolledMinTokens ? this.unrolledKernel() : null) ??
      this.wasmKernel()
    );
  }

  /**
   * Which kernel a forward over `tokens` rows runs, and the bytes it reads in place of float
   * weights (once; the kernels re-read them from the caches): the dot kernel's weight bytes, the
   * unrolled kernel's code, or the table kernel's 2-bit weights (rows and inputs padded to 16),
   * and the scales. Builds the kernel if it is the one.
   */
  kernelFor(tokens: number): { kernel: 'dot' | 'unrolled' | 'table'; bytes: number } {
    const kernel = this.activationBits !== null ? this.kernelObject(tokens) : null;
    if (kernel instanceof TernaryMatmulDot) return { kernel: 'dot', bytes: kernel.weightBytes + this.weightScale.length * 4 };
    if (kernel instanceof TernaryMatmulUnrolled) return { kernel: 'unrolled', bytes: kernel.codeBytes };
    const padded = Math.ceil(this.outFeatures / 16) * 16 * (Math.ceil(this.inFeatures / 16) * 4);
    return { kernel: 'table', bytes: padded + this.weightScale.length * 4 };
  }

  /** The unrolled kernel, compiled on first use (~10-40 ms for a 64-wide layer); null where the
   *  layer has too many nonzero weights or WebAssembly SIMD is missing. */
  private unrolledKernel(): TernaryMatmulUnrolled | null {
    if (this.unrolled === undefined) {
      this.unrolled = TernaryMatmulUnrolled.fromPacked(this.packed, this.outFeatures, this.inFeatures, { perTensorScale: this.weightScale.length === 1 });
    }
    return this.unrolled;
  }

  /** The int8 dot-product kernel in the first of dotVariants the engine runs, its weights packed
   *  on first use; null where it runs none. */
  private dotKernel(): TernaryMatmulDot | null {
    if (this.dot === undefined) {
      this.dot = null;
      for (const v of TernaryLinear.dotVariants) if ((this.dot = TernaryMatmulDot.fromPacked(this.packed, this.outFeatures, this.inFeatures, v))) break;
    }
    return this.dot;
  }

  /** The SIMD kernel, built on first use; null where WebAssembly SIMD is missing. */
  private wasmKernel(): TernaryMatmulI2Wasm | null {
    if (this.kernel === undefined) {
      this.kernel = wasmTernaryAvailable() ? new TernaryMatmulI2Wasm(this.packed, this.outFeatures, this.inFeatures) : null;
    }
    return this.kernel;
  }

  /** codes * gamma as float, for the weights-only mode (float activations cannot use the int8 kernel). */
  private dequantizedWeight(): Tensor {
    if (!this.dequantized) {
      const codes = this.codes();
      const w = zeros([this.outFeatures, this.inFeatures]);
      const d = w.data;
      for (let o = 0; o < this.outFeatures; o++) {
        const g = this.weightScale.length === 1 ? this.weightScale[0]! : this.weightScale[o]!;
        for (let i = 0; i < this.inFeatures; i++) d[o * this.inFeatures + i] = codes[o * this.inFeatures + i]! * g;
      }
      this.dequantized = keep(w); // a cache: it outlives a tidy() around the forward that made it
    }
    return this.dequantized;
  }

  override extraRepr(): string {
    return `${this.inFeatures} -> ${this.outFeatures}${this.bias ? ', bias' : ''}, packed i2`;
  }

  override toString(): string {
    return this.norm ? super.toString() : `TernaryLinear(${this.extraRepr()})`;
  }
}

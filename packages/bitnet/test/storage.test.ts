// storageReport: bytes per scheme worked by hand for a tiny model, the packed file on disk equal
// to the report plus the safetensors header, and the study's models (ViT-tiny, DeiT-tiny,
// ViT-small; random weights) against counts derived from their configs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, type Tensor } from '@bitvit/tensor';
import { LayerNorm, Linear, Module, readSafetensorsHeader } from '@bitvit/nn';
import { createModel, presetConfig } from '@bitvit/vit';
import { BitLinear } from '../src/bitlinear.js';
import { convertToBitNet } from '../src/convert.js';
import { savePacked, toPacked } from '../src/packed.js';
import { storageReport } from '../src/storage.js';

const temp = mkdtempSync(join(tmpdir(), 'bitnet-storage-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(temp, `m${dirs++}`);

/** fc (BitLinear 10 -> 3, bias), norm (LayerNorm 3), head (float Linear 3 -> 2, bias). */
class Tiny extends Module {
  fc: BitLinear;
  norm: LayerNorm;
  head: Linear;
  constructor(weightScale: 'tensor' | 'channel' = 'tensor') {
    super();
    this.fc = this.addModule('fc', new BitLinear(10, 3, { weightScale, generator: new Generator(0) }));
    this.norm = this.addModule('norm', new LayerNorm(3));
    this.head = this.addModule('head', new Linear(3, 2, { generator: new Generator(1) }));
    // 15 zeros, 10 ones, 5 minus ones: mean|W| = 0.5, W / gamma = 0 or +-2 -> codes 0 and +-1
    const w = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 0 : i % 6 === 1 ? -1 : 1));
    this.fc.weight.data.set(w);
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.norm.forward(this.fc.forward(x)));
  }
}

/** model.safetensors' size minus its header (the 8-byte length and the JSON it announces). */
function dataBytes(file: string): { size: number; header: number } {
  const bytes = readFileSync(file);
  return { size: bytes.length, header: readSafetensorsHeader(bytes).dataStart };
}

describe('storageReport by hand', () => {
  it('a tiny model: 30 ternary weights, 17 float values (fc bias 3, norm 6, head 8), one scale', () => {
    const r = storageReport(new Tiny());
    expect([r.ternaryWeights, r.floatValues, r.ternaryLayers]).toEqual([30, 17, 1]);
    const rest = 17 * 4 + 1 * 4; // every float value and the scale in float32
    expect(r.bytes).toEqual({
      float32: (30 + 17) * 4, // 188
      float16: (30 + 17) * 2, // 94
      int8: 30 + rest, // one byte per code: 102
      i2: 3 * Math.ceil(10 / 4) + rest, // 3 rows of 3 bytes: 81
      t3: 3 * Math.ceil(10 / 5) + rest, // 3 rows of 2 bytes: 78
      'log2(3)': Math.ceil((30 * Math.log2(3)) / 8) + rest, // 5.94 -> 6 bytes: 78
      entropy: 6 + rest, // 30 * 1.459 / 8 = 5.47 -> 6 bytes
    });
    // shares 1/2, 1/3, 1/6: H = 1/2 + (1/3) log2 3 + (1/6) log2 6
    expect(r.codeEntropyBits).toBeCloseTo(0.5 + Math.log2(3) / 3 + Math.log2(6) / 6, 12);
  });

  it('per-channel scales cost 4 bytes per output row', () => {
    const r = storageReport(new Tiny('channel'));
    expect(r.bytes.i2).toBe(9 + 17 * 4 + 3 * 4);
    expect(r.bytes.int8 - storageReport(new Tiny()).bytes.int8).toBe(2 * 4);
  });

  it('asIfConverted counts plain Linears as ternary too (one scale each)', () => {
    const r = storageReport(new Tiny(), { asIfConverted: true });
    expect([r.ternaryWeights, r.floatValues, r.ternaryLayers]).toEqual([36, 11, 2]);
    expect(r.bytes.i2).toBe(9 + 2 * 1 + 11 * 4 + 2 * 4);
    expect(r.bytes.float32).toBe(188); // float32 does not depend on what is ternary
  });

  it('counts a TernaryLinear like the BitLinear it came from', () => {
    const m = new Tiny('channel');
    const before = storageReport(m);
    toPacked(m);
    expect(storageReport(m)).toEqual(before);
  });

  it('is all float for a model without ternary layers', () => {
    const m = new (class extends Module {
      head = this.addModule('head', new Linear(3, 2));
    })();
    const r = storageReport(m);
    expect(r.bytes.float32).toBe(32);
    expect([r.bytes.int8, r.bytes.i2, r.bytes.t3]).toEqual([32, 32, 32]);
    expect(r.ternaryWeights).toBe(0);
  });
});

describe('the packed file on disk is the report plus the safetensors header, exactly', () => {
  const cases: Array<[string, () => Module & { config?: { toJson(): unknown } }]> = [
    ['the tiny model (with a float Linear)', () => new Tiny('channel')],
    [
      'vit-mnist',
      () => {
        const m = createModel(presetConfig('vit-mnist'), { generator: new Generator(2) });
        convertToBitNet(m, { exclude: ['classifier'], inputNorm: 'rmsnorm' });
        return m;
      },
    ],
    [
      'ViT-tiny',
      () => {
        const m = createModel(presetConfig('vit-tiny'), { generator: new Generator(3) });
        convertToBitNet(m);
        return m;
      },
    ],
  ];
  for (const [what, make] of cases) {
    it(what, async () => {
      const m = make();
      const report = storageReport(m);
      for (const scheme of ['i2', 't3'] as const) {
        const dir = newDir();
        const configJson = (m.config?.toJson() ?? { model_type: 'tiny' }) as Record<string, unknown>;
        const { bytes } = await savePacked(m, dir, { configJson, scheme });
        const { size, header } = dataBytes(join(dir, 'model.safetensors'));
        expect(size).toBe(bytes);
        expect(size - header, `${what} ${scheme}`).toBe(report.bytes[scheme]);
      }
    });
  }
});

// Counts from the config alone: each encoder layer has query, key, value, attention output
// (d x d) and MLP up/down (d x m, m x d); the head(s) are classes x d; every other parameter
// stays float.
function expectedReport(name: string): { ternary: number; layers: number; i2Codes: number; t3Codes: number } {
  const c = presetConfig(name);
  const d = c.hiddenSize;
  const m = c.intermediateSize;
  const heads = c.modelType === 'deit' ? 2 : 1;
  const shapes: Array<[number, number]> = [];
  for (let l = 0; l < c.numHiddenLayers; l++) shapes.push([d, d], [d, d], [d, d], [d, d], [m, d], [d, m]);
  for (let h = 0; h < heads; h++) shapes.push([c.numLabels, d]);
  return {
    ternary: shapes.reduce((a, [o, i]) => a + o * i, 0),
    layers: shapes.length,
    i2Codes: shapes.reduce((a, [o, i]) => a + o * Math.ceil(i / 4), 0),
    t3Codes: shapes.reduce((a, [o, i]) => a + o * Math.ceil(i / 5), 0),
  };
}

// The README's storage table, MB = 10^6 bytes: float32, float16, int8, i2, t3, log2(3).
const README_TABLE: Record<string, string> = {
  'vit-tiny': '22.87 11.43 6.37 2.24 1.98 1.96',
  'deit-tiny': '23.64 11.82 6.57 2.30 2.03 2.00',
  'vit-small': '88.20 44.10 23.35 7.14 6.07 6.02',
};

describe("the study's models (random weights; sizes do not depend on the values)", () => {
  for (const name of ['vit-tiny', 'deit-tiny', 'vit-small']) {
    it(`${name}: the float model asIfConverted equals the converted model, both match the config's counts and the README`, () => {
      const model = createModel(presetConfig(name), { generator: new Generator(4) });
      const params = model.parameters().reduce((a, p) => a + p.size, 0);
      const asIf = storageReport(model, { asIfConverted: true });
      convertToBitNet(model);
      const r = storageReport(model);
      expect(r.bytes).toEqual(asIf.bytes);
      const e = expectedReport(name);
      expect([r.ternaryWeights, r.ternaryLayers, r.floatValues]).toEqual([e.ternary, e.layers, params - e.ternary]);
      const rest = (params - e.ternary + e.layers) * 4;
      expect(r.bytes.float32).toBe(params * 4);
      expect(r.bytes.float16).toBe(params * 2);
      expect(r.bytes.int8).toBe(e.ternary + rest);
      expect(r.bytes.i2).toBe(e.i2Codes + rest);
      expect(r.bytes.t3).toBe(e.t3Codes + rest);
      expect(r.bytes['log2(3)']).toBe(Math.ceil((e.ternary * Math.log2(3)) / 8) + rest);
      const mb = (['float32', 'float16', 'int8', 'i2', 't3', 'log2(3)'] as const).map((k) => (r.bytes[k] / 1e6).toFixed(2)).join(' ');
      expect(mb).toBe(README_TABLE[name]);
    });
  }
});

// `pnpm study --quick` end to end: the four models trained with matched budgets, the PTQ rows
// covering every method and option, throughput per execution path, storage cross-checked, and
// the report files. The flag parsing, the PTQ sweeps and the layer-selection globs (against the
// real module names) are checked on their own first.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Linear } from '@bitvit/nn';
import { selectByName } from '@bitvit/bitnet';
import { buildModel, loadModel } from '../src/models.js';
import { UsageError } from '../src/args.js';
import { studyCommand, studyOptionsFromFlags } from '../src/commands/study.js';
import { baseSweep, layerSelection, ptqLabel, repoRoot, variantSweep, type PTQConfig } from '../src/study/run.js';
import { CHROMIUM_PATH } from '../src/study/screenshot.js';
import type { StudyResults } from '../src/study/results.js';
import { tempDir } from './helpers.js';

const SELECTIONS = ['all', 'all but classifier', 'all but first and last blocks', 'MLP only', 'attention only'] as const;

/** Names of the Linears the selection picks in a fresh model of the preset. */
function picked(preset: string, layers: (typeof SELECTIONS)[number]): string[] {
  const model = buildModel({ model: preset });
  const { include, exclude } = layerSelection(model, layers);
  return model.namedModules().filter(([n, m]) => m instanceof Linear && selectByName(n, include, exclude)).map(([n]) => n);
}

describe('study flags and sweeps', () => {
  it('parses flags into options, with the command line kept for the report', () => {
    const o = studyOptionsFromFlags(['--', '--quick', '--seed', '3', '--out', 'x']);
    expect(o).toMatchObject({ quick: true, seed: 3, out: 'x', model: 'vit-mnist', data: 'mnist', docs: false, screenshot: true, command: 'pnpm study --quick --seed 3 --out x' });
    expect(studyOptionsFromFlags(['--help'])).toBe('help');
    const d = studyOptionsFromFlags([]);
    expect(d !== 'help' && d.out).toMatch(/^runs\/study-\d{8}-\d{6}$/);
    expect(() => studyOptionsFromFlags(['--quik'])).toThrow(UsageError);
    expect(() => studyOptionsFromFlags(['--quik'])).toThrow(/study: unknown flag --quik/);
  });

  it('--docs copies into the repository root\'s docs/ folder', () => {
    expect(existsSync(join(repoRoot(), 'pnpm-workspace.yaml'))).toBe(true);
  });

  it('refuses a DeiT preset as the base model (the DeiT is derived from the ViT)', async () => {
    await expect(studyCommand(['--model', 'deit-mnist', '--quiet'])).rejects.toThrow(/study: --model takes a vit-<size> preset .* got "deit-mnist"/);
  });

  it('layer selections pick the right Hugging Face modules of ViT and DeiT', () => {
    for (const [preset, prefix, heads] of [['vit-mnist', 'vit', ['classifier']], ['deit-mnist', 'deit', ['cls_classifier', 'distillation_classifier']]] as const) {
      const all = picked(preset, 'all');
      expect(all).toHaveLength(4 * 6 + heads.length); // q, k, v, attention out, fc1, fc2 per block, 4 blocks
      expect(picked(preset, 'all but classifier')).toEqual(all.filter((n) => !heads.includes(n as never)));
      const inner = picked(preset, 'all but first and last blocks');
      expect(inner).toHaveLength(2 * 6);
      expect(inner.every((n) => /\.encoder\.layer\.[12]\./.test(n))).toBe(true);
      const mlp = picked(preset, 'MLP only');
      expect(mlp).toHaveLength(4 * 2);
      expect(mlp).toContain(`${prefix}.encoder.layer.0.intermediate.dense`);
      expect(mlp).toContain(`${prefix}.encoder.layer.3.output.dense`);
      expect(mlp.some((n) => n.includes('attention'))).toBe(false);
      const attention = picked(preset, 'attention only');
      expect(attention).toHaveLength(4 * 4);
      expect(attention).toContain(`${prefix}.encoder.layer.2.attention.output.dense`);
      expect(attention.every((n) => n.includes('.attention.'))).toBe(true);
    }
  });

  it('the sweeps cover every method, granularity, symmetry, layer selection and activation mode', () => {
    const best: PTQConfig = { method: 'twn-refit', granularity: 'tensor', symmetric: false, layers: 'all', activations: 'dynamic' };
    const rows = [...baseSweep(), ...variantSweep(best)];
    expect(new Set(rows.map((r) => r.method))).toEqual(new Set(['absmean', 'twn', 'twn-refit', 'absmean-refit', 'gptq', 'two-plane']));
    expect(new Set(rows.map((r) => r.layers))).toEqual(new Set(SELECTIONS));
    expect(new Set(rows.map((r) => r.activations))).toEqual(new Set(['dynamic', 'static', 'none']));
    // gptq and two-plane at channel/sym and at the best's tensor/asym; no duplicate rows
    expect(rows.filter((r) => r.method === 'gptq').map(ptqLabel)).toEqual(['gptq / channel / sym / all / a8 dynamic', 'gptq / tensor / asym / all / a8 dynamic']);
    expect(new Set(rows.map(ptqLabel)).size).toBe(rows.length);
    expect(rows.length).toBeGreaterThanOrEqual(15);
    expect(rows.length).toBeLessThanOrEqual(25);
    // a best that is already channel/sym gets one row of each
    expect(variantSweep({ ...best, granularity: 'channel', symmetric: true }).filter((r) => r.method === 'two-plane')).toHaveLength(1);
  });
});

describe('pnpm study --quick', () => {
  const tmp = tempDir('study');
  const out = join(tmp.dir, 'study');
  let r: StudyResults;
  let seconds = 0;

  beforeAll(async () => {
    const t0 = performance.now();
    const code = await studyCommand(['--quick', '--out', out, '--seed', '7', '--quiet']);
    seconds = (performance.now() - t0) / 1000;
    console.log(`study --quick finished in ${seconds.toFixed(1)} s`);
    expect(code).toBe(0);
    r = JSON.parse(await readFile(join(out, 'study.json'), 'utf8')) as StudyResults;
  }, 300_000);
  afterAll(() => tmp.cleanup());

  it('records how it was run', () => {
    expect(r.meta).toMatchObject({ command: `pnpm study --quick --out ${out} --seed 7 --quiet`, seed: 7, data: 'mnist', quick: true, cpus: expect.any(Number) });
    expect(r.meta.node).toBe(process.version);
    expect(Number.isNaN(Date.parse(r.meta.date))).toBe(false);
    expect(r.meta.budget).toEqual({ epochs: 1, steps: 32, batchSize: 32 });
    expect(r.meta.seconds).toBeGreaterThan(0);
    expect(r.meta.seconds).toBeLessThanOrEqual(seconds);
  });

  it('trains four models with matched budgets, the DeiTs distilled from the float ViT', () => {
    expect(r.models.map((m) => [m.id, m.family, m.kind, m.preset, m.teacher, m.floatTwin])).toEqual([
      ['vit-fp', 'vit', 'float', 'vit-mnist', undefined, undefined],
      ['vit-qat', 'vit', 'qat', 'vit-mnist', undefined, 'vit-fp'],
      ['deit-fp', 'deit', 'float', 'deit-mnist', 'vit-fp', undefined],
      ['deit-qat', 'deit', 'qat', 'deit-mnist', 'vit-fp', 'deit-fp'],
    ]);
    for (const m of r.models) {
      expect(m.steps, m.id).toBe(32);
      expect(m.epochs, m.id).toBe(1);
      expect(m.seed).toBe(7);
      expect(m.testAccuracy, m.id).toBeGreaterThanOrEqual(0);
      expect(m.testAccuracy, m.id).toBeLessThanOrEqual(1);
      expect(m.trainImagesPerSecond, m.id).toBeGreaterThan(0);
      expect(m.params, m.id).toBeGreaterThan(100_000);
      expect(m.command, m.id).toContain(`--model ${m.preset} --data mnist --seed 7 --steps 32 --batch-size 32`);
      expect(m.command.startsWith(m.kind === 'qat' ? 'pnpm train:qat ' : 'pnpm train:fp ')).toBe(true);
      if (m.teacher) expect(m.command).toContain(`--teacher ${join(out, 'vit-fp', 'model')} --distillation hard`);
      // the curve: every logged window (log every 2 steps), no eval lines
      expect(m.curve.map((p) => p.step)).toEqual(Array.from({ length: 16 }, (_, i) => 2 * (i + 1)));
      for (const p of m.curve) for (const v of [p.epoch, p.loss, p.accuracy, p.lr]) expect(Number.isFinite(v)).toBe(true);
    }
    // the float models learned something in 32 steps (chance is 10%)
    expect(r.models[0]!.testAccuracy).toBeGreaterThan(0.13);
  });

  it('measures the QAT models against their float twins, with ternary shares and packed size', () => {
    for (const m of r.models.filter((x) => x.kind === 'qat')) {
      const q = m.quantError!;
      expect(q.top1Agreement).toBeGreaterThanOrEqual(0);
      expect(q.top1Agreement).toBeLessThanOrEqual(1);
      expect(q.meanKL).toBeGreaterThan(0);
      expect(q.logitMSE).toBeGreaterThan(0);
      expect(m.ternaryShares!.length).toBe(m.family === 'deit' ? 26 : 25);
      for (const s of m.ternaryShares!) expect(s.minus + s.zero + s.plus).toBeCloseTo(1, 9);
      // the packed file holds the i2 codes, scales and float tensors, plus its header
      expect(m.packedFileBytes!).toBeGreaterThan(m.storage.i2!);
      expect(m.packedFileBytes!).toBeLessThan(m.storage.i2! + 20_000);
    }
    for (const m of r.models) {
      expect(Object.keys(m.storage)).toEqual(['float32', 'float16', 'int8', 'i2', 't3', 'log2(3)', 'entropy']);
      expect(m.storage.float32).toBe(4 * m.params);
      expect(m.storage.i2!).toBeLessThan(m.storage.float32! / 5);
    }
  });

  it('measures throughput of the float32, fake-quant and packed paths at batch 1 and 64', () => {
    for (const m of r.models) {
      const paths = m.kind === 'float' ? ['float'] : ['fakeQuant', 'packed'];
      expect(Object.keys(m.throughput).sort(), m.id).toEqual(paths.sort());
      for (const p of paths) {
        const t = m.throughput[p as 'float']!;
        expect(t.batch1, `${m.id} ${p}`).toBeGreaterThan(0);
        expect(t.batch64, `${m.id} ${p}`).toBeGreaterThan(0);
        expect(Number.isFinite(t.batch1) && Number.isFinite(t.batch64)).toBe(true);
      }
    }
  });

  it('quantizes both float models with every PTQ method and option', () => {
    for (const base of ['vit-fp', 'deit-fp']) {
      const rows = r.ptq.filter((p) => p.base === base);
      expect(rows.length, base).toBeGreaterThanOrEqual(15);
      expect(rows.length, base).toBeLessThanOrEqual(25);
      expect(new Set(rows.map((p) => p.method))).toEqual(new Set(['absmean', 'twn', 'twn-refit', 'absmean-refit', 'gptq', 'two-plane']));
      expect(new Set(rows.map((p) => p.granularity))).toEqual(new Set(['tensor', 'channel']));
      expect(new Set(rows.map((p) => p.symmetric))).toEqual(new Set([true, false]));
      expect(new Set(rows.map((p) => p.layers))).toEqual(new Set(SELECTIONS));
      expect(new Set(rows.map((p) => p.activations))).toEqual(new Set(['dynamic', 'static', 'none']));
      for (const p of rows) {
        expect(p.label).toBe(ptqLabel(p as unknown as Parameters<typeof ptqLabel>[0]));
        expect(p.testAccuracy).toBeGreaterThanOrEqual(0);
        expect(p.testAccuracy).toBeLessThanOrEqual(1);
        expect(p.quantError.top1Agreement).toBeGreaterThan(0);
        expect(p.quantError.meanKL).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(p.quantError.logitMSE)).toBe(true);
        expect(p.storageBytes).toBeGreaterThan(0);
        expect(p.seconds).toBeGreaterThanOrEqual(0);
      }
      // The variants share one configuration: the base sweep's closest to float (lowest KL).
      const sweep = rows.filter((p) => p.layers === 'all' && p.activations === 'dynamic' && p.method !== 'gptq' && p.method !== 'two-plane');
      const closest = sweep.reduce((a, p) => (p.quantError.meanKL < a.quantError.meanKL ? p : a));
      for (const p of rows.filter((x) => x.layers !== 'all' || x.activations !== 'dynamic')) {
        expect([p.method, p.granularity, p.symmetric]).toEqual([closest.method, closest.granularity, closest.symmetric]);
      }
    }
  });

  it('counts PTQ storage as the i2 scheme does, zero points and second planes included', async () => {
    for (const base of ['vit-fp', 'deit-fp']) {
      const rows = r.ptq.filter((p) => p.base === base);
      const row = (label: string) => rows.find((p) => p.label === label)!;
      const model = r.models.find((m) => m.id === base)!;
      // every layer per-tensor symmetric is what the float model would take converted
      expect(row('absmean / tensor / sym / all / a8 dynamic').storageBytes).toBe(model.storage.i2);
      // a zero point is one float32 per output row of every quantized layer
      const float = await loadModel(join(out, base, 'model'));
      const linears = float.namedModules().filter(([, m]) => m instanceof Linear).map(([, m]) => m as Linear);
      const rowsTotal = linears.reduce((n, l) => n + l.outFeatures, 0);
      expect(row('twn / tensor / asym / all / a8 dynamic').storageBytes - row('twn / tensor / sym / all / a8 dynamic').storageBytes).toBe(4 * rowsTotal);
      // per-channel scales: one float32 per row instead of one per layer
      expect(row('twn / channel / sym / all / a8 dynamic').storageBytes - row('twn / tensor / sym / all / a8 dynamic').storageBytes).toBe(4 * (rowsTotal - linears.length));
      // two planes: the codes twice
      const twoPlane = rows.find((p) => p.method === 'two-plane' && p.granularity === 'channel' && p.symmetric)!;
      const i2Codes = linears.reduce((n, l) => n + l.outFeatures * Math.ceil(l.inFeatures / 4), 0);
      expect(twoPlane.storageBytes - row('twn / channel / sym / all / a8 dynamic').storageBytes).toBe(i2Codes + 4 * rowsTotal);
      // float layers cost float32: MLP only keeps the attention and the heads float
      expect(rows.find((p) => p.layers === 'MLP only')!.storageBytes).toBeGreaterThan(row('absmean / tensor / sym / all / a8 dynamic').storageBytes * 3);
    }
  });

  it('keeps per-layer output errors of the absmean baseline and the closest all-layer method', () => {
    for (const base of ['vit-fp', 'deit-fp']) {
      const entries = r.layerErrors.filter((l) => l.base === base);
      expect(entries[0]!.label).toBe('absmean / tensor / sym / all / a8 dynamic');
      expect(entries.length).toBeGreaterThanOrEqual(1);
      expect(entries.length).toBeLessThanOrEqual(2);
      for (const e of entries) {
        expect(e.layers).toHaveLength(base === 'deit-fp' ? 26 : 25);
        expect(e.layers[0]!.name).toBe(`${base.split('-')[0]}.encoder.layer.0.attention.attention.query`);
        for (const l of e.layers) {
          expect(Number.isFinite(l.relMSE)).toBe(true);
          expect(l.relMSE).toBeGreaterThan(0);
        }
      }
    }
  });

  it('writes RESULTS.md and a report.html with every chart drawn', async () => {
    const md = await readFile(join(out, 'RESULTS.md'), 'utf8');
    for (const heading of ['## Answers', "## The study's table", '## Post-training quantization', '## Storage', '## Throughput', '## Training']) expect(md).toContain(heading);
    expect(md).toContain('| ViT (vit-mnist) |');
    expect(md).toContain('| DeiT (deit-mnist) |');
    expect(md).toContain('| vit-fp | gptq | per channel | sym | all | 8-bit dynamic |');
    expect(md).toContain('**quick run**');
    expect(md.split('\n').filter((l) => /^\| (vit|deit)-fp \| /.test(l)).length).toBe(r.ptq.length + 2 * 3); // the PTQ rows, and each float model's storage, throughput and training rows
    const html = await readFile(join(out, 'report.html'), 'utf8');
    const charts = new Map([...html.matchAll(/<figure class="chart" data-chart="([^"]*)">([\s\S]*?)<\/figure>/g)].map((m) => [m[1]!, m[2]!]));
    for (const name of ['loss-vit', 'accuracy-vit', 'loss-deit', 'accuracy-deit', 'ptq-vit-fp', 'ptq-deit-fp', 'layer-error-vit-fp', 'layer-error-deit-fp', 'ternary-shares-vit-qat', 'ternary-shares-deit-qat', 'storage', 'throughput']) {
      expect(charts.has(name), name).toBe(true);
      expect(/<(circle|rect|path|polyline)\b/.test(charts.get(name)!), name).toBe(true);
    }
    if (existsSync(CHROMIUM_PATH)) expect(existsSync(join(out, 'report.png'))).toBe(true);
  });
});

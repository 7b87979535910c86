// Seeded randomness: manualSeed repeats rand/randn exactly, a Generator's state resumes its
// exact sequence (also through JSON, as a checkpoint stores it), and the draws have the right moments.
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, manualSeed, rand, randint, randn } from '../src/index.js';

describe('manualSeed', () => {
  it('makes rand and randn repeat exactly', () => {
    manualSeed(42);
    const a = [rand([5]), randn([7]), rand([2, 3])];
    manualSeed(42);
    const b = [rand([5]), randn([7]), rand([2, 3])];
    for (let i = 0; i < a.length; i++) expect(Array.from(b[i]!.data)).toEqual(Array.from(a[i]!.data));
  });

  it('different seeds give different draws; string seeds work too', () => {
    manualSeed(1);
    const a = Array.from(rand([4]).data);
    manualSeed(2);
    expect(Array.from(rand([4]).data)).not.toEqual(a);
    manualSeed('run-7');
    const s = Array.from(randn([3]).data);
    manualSeed('run-7');
    expect(Array.from(randn([3]).data)).toEqual(s);
  });

  it('a private generator does not disturb the global one', () => {
    manualSeed(5);
    const want = Array.from(rand([3]).data);
    manualSeed(5);
    randn([100], { generator: new Generator(9) });
    expect(Array.from(rand([3]).data)).toEqual(want);
  });
});

describe('Generator state', () => {
  it('getState/setState resume the exact sequence, mid-way through a Box-Muller pair', () => {
    const g = new Generator(123);
    g.normal(); // draws a pair and keeps the second: the state must carry it
    const state = g.getState();
    const next = [g.normal(), g.normal(), g.random(), g.int(0, 100), g.normal()];
    const h = new Generator(999);
    h.setState(state);
    expect([h.normal(), h.normal(), h.random(), h.int(0, 100), h.normal()]).toEqual(next);
  });

  it('the state survives a JSON round trip (checkpoints) and is not aliased', () => {
    const g = new Generator(7);
    for (let i = 0; i < 10; i++) g.random();
    const saved = JSON.parse(JSON.stringify(g.getState())) as ReturnType<Generator['getState']>;
    const want = [g.random(), g.random(), g.normal()];
    const h = new Generator(0);
    h.setState(saved);
    expect([h.random(), h.random(), h.normal()]).toEqual(want);
    h.random();
    const k = new Generator(0);
    k.setState(saved); // using the state once must not have advanced it
    expect([k.random(), k.random(), k.normal()]).toEqual(want);
  });

  it('the global generator state resumes the same tensors', () => {
    manualSeed(11);
    rand([3]);
    const state = defaultGenerator().getState();
    const a = Array.from(randn([6]).data);
    defaultGenerator().setState(state);
    expect(Array.from(randn([6]).data)).toEqual(a);
  });
});

describe('distributions', () => {
  it('randn has mean ~0 and std ~1; mean/std options shift and scale', () => {
    const g = new Generator(3);
    const x = randn([20000], { generator: g }).data;
    let m = 0;
    for (const v of x) m += v;
    m /= x.length;
    let s = 0;
    for (const v of x) s += (v - m) ** 2;
    s = Math.sqrt(s / (x.length - 1));
    expect(Math.abs(m)).toBeLessThan(0.03); // 4 standard errors of 1/sqrt(20000)
    expect(Math.abs(s - 1)).toBeLessThan(0.03);
    const y = randn([20000], { generator: g, mean: 5, std: 0.1 }).data;
    const my = y.reduce((a, b) => a + b, 0) / y.length;
    expect(Math.abs(my - 5)).toBeLessThan(0.005);
  });

  it('rand stays in [low, high) with mean in the middle; randint in [low, high)', () => {
    const g = new Generator(4);
    const u = rand([10000], { generator: g, low: -2, high: 2 }).data;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(2);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length)).toBeLessThan(0.05);
    const r = randint(3, 6, [1000], { generator: g }).data;
    expect(new Set(r)).toEqual(new Set([3, 4, 5]));
  });

  it('permutation holds every index once', () => {
    const p = new Generator(8).permutation(50);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

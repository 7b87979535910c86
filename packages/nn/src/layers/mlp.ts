// The transformer MLP block: Linear -> activation -> dropout -> Linear -> dropout (timm's Mlp names).
import type { Generator, Tensor } from '@bitvit/tensor';
import { Module } from '../module.js';
import { Linear } from './linear.js';
import { Dropout, GELU } from './basic.js';

export class Mlp extends Module {
  fc1: Linear;
  act: Module & { forward(x: Tensor): Tensor };
  fc2: Linear;
  drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures: number, opts: { outFeatures?: number; dropout?: number; bias?: boolean; act?: Module & { forward(x: Tensor): Tensor }; generator?: Generator } = {}) {
    super();
    const g = opts.generator;
    this.fc1 = this.addModule('fc1', new Linear(inFeatures, hiddenFeatures, { bias: opts.bias, generator: g }));
    this.act = this.addModule('act', opts.act ?? new GELU());
    this.fc2 = this.addModule('fc2', new Linear(hiddenFeatures, opts.outFeatures ?? inFeatures, { bias: opts.bias, generator: g }));
    this.drop = this.addModule('drop', new Dropout(opts.dropout ?? 0, { generator: g }));
  }

  forward(x: Tensor): Tensor {
    return this.drop.forward(this.fc2.forward(this.drop.forward(this.act.forward(this.fc1.forward(x)))));
  }
}

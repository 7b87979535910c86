// The CPU backend's TypeScript kernels, all of them: the readable reference every other kernel is
// tested against, and the fallback where WebAssembly SIMD is missing (see index.ts).
import type { Backend } from '../backend.js';
import { binary, clamp, geluBackward, unary, where } from './elementwise.js';
import { argReduce, reduce } from './reduce.js';
import { concat, expand, gather, indexAdd, indexSelect, permute, scatterAdd, slice } from './layout.js';
import { matmul } from './matmul.js';
import {
  absmaxQuantize, layerNorm, layerNormBackward, logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, ternaryQuantize,
} from './nn.js';

export const cpuReference: Backend = {
  name: 'cpu',
  describe: () => 'cpu (TypeScript kernels)',
  unary, binary, clamp, where, geluBackward,
  reduce, argReduce,
  permute, expand, slice, concat, indexSelect, indexAdd, gather, scatterAdd,
  matmul,
  softmax, softmaxBackward, logSoftmax, logSoftmaxBackward, layerNorm, layerNormBackward,
  absmaxQuantize, ternaryQuantize,
};

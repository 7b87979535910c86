// The browser build's entry: the framework as one ES module, each package a namespace
// (names such as `softmax` exist in more than one package, so no flat re-export):
//   import { tensor, nn, vit, bitnet } from './bitvit.js';
//   await tensor.loadBackend('gpu');            // gpu.js is inside the bundle, loaded on first use
// build.mjs bundles this file; Node-only parts (file I/O for checkpoints and packed weights)
// are shimmed there and throw if called.
export * as tensor from '../src/index.js';
export * as nn from '../../nn/src/index.js';
export * as vit from '../../vit/src/index.js';
export * as bitnet from '../../bitnet/src/index.js';

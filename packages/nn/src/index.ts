// @bitvit/nn: modules, layers, initialisers, losses, optimizers, LR schedules and safetensors I/O.
export * from './module.js';
export * as init from './init.js';
export { Linear, prepackLinears, type LinearOptions } from './layers/linear.js';
export { forwardShared, type SharedInputLayer } from './layers/shared-input.js';
export { LayerNorm, RMSNorm } from './layers/norm.js';
export { Identity, GELU, ReLU, Tanh, Dropout } from './layers/basic.js';
export { Conv2d, unfoldPatches } from './layers/conv.js';
export { MultiHeadAttention, multiHeadAttention, scaledDotProductAttention, splitHeads, mergeHeads } from './layers/attention.js';
export { Mlp } from './layers/mlp.js';
export * from './losses.js';
export { Optimizer, clipGradNorm, type ParamGroup, type GroupSpec, type ParamState, type OptimizerStateDict } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export { paramGroupsWithDecay, isNoDecay, NO_DECAY_NAMES } from './optim/groups.js';
export * from './optim/schedule.js';
export * from './safetensors.js';

// @bitvit/train: datasets, the Trainer, evaluation, checkpoints and the command line.
export * from './data/index.js';
export { Trainer, TrainingDiverged, readRunOptions, type TrainOptions, type TrainSummary } from './trainer.js';
export { evaluate, evaluateAsync, forEachBatch, batches, type EvalResult, type EvaluateOptions } from './evaluate.js';
export { computeLoss, type ObjectiveOptions } from './objective.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint, type TrainerPosition } from './checkpoint.js';
export { buildModel, loadModel, saveModel, isModelFolder, type ModelSpec } from './models.js';
export { Progress } from './progress.js';
export { parseFlags, formatHelp, UsageError, type FlagTable } from './args.js';
export { main } from './cli.js';

// What eval, predict and ptq share: load a model folder and the data at its input size,
// normalised as its preprocessor_config.json says.
import { loadConfig, loadPreprocessor, type ImageClassifier } from '@bitvit/vit';
import { convertDataset, loadDataset, normalizationFromPreprocessorConfig, type ImageDataset, type Normalization } from '../data/index.js';
import { loadModel } from '../models.js';

export interface LoadedForEval {
  model: ImageClassifier;
  data: { train: ImageDataset; test: ImageDataset };
  norm: Normalization;
}

export async function loadModelAndData(modelDir: string, dataSpec: string): Promise<LoadedForEval> {
  const config = await loadConfig(modelDir);
  const model = await loadModel(modelDir);
  model.eval();
  const pre = await loadPreprocessor(modelDir, config);
  const raw = await loadDataset(dataSpec);
  const shape = { channels: config.numChannels, height: config.imageSize, width: config.imageSize };
  if (raw.test.numClasses > config.numLabels) {
    throw new Error(`${dataSpec} has ${raw.test.numClasses} classes but the model in ${modelDir} predicts ${config.numLabels}`);
  }
  return {
    model,
    data: { train: convertDataset(raw.train, shape), test: convertDataset(raw.test, shape) },
    norm: normalizationFromPreprocessorConfig(pre as unknown as Record<string, unknown>, config.numChannels),
  };
}

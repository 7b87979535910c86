// Checkpoints: one safetensors file holding the model's tensors ("model.<name>"), the optimizer's
// state buffers ("optim.<param index>.<buffer>") and, in __metadata__, the trainer's position and
// RNG states as JSON. It is written to a temporary file and renamed, so a crash mid-write leaves
// the previous checkpoint intact.
import { Tensor, type GeneratorState } from '@bitvit/tensor';
import { readSafetensors, writeSafetensors, type Module, type Optimizer, type OptimizerStateDict, type SafeTensor } from '@bitvit/nn';

export interface TrainerPosition {
  /** Updates done so far (the next update is number `step`). */
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch: number;
  /** The global generator (dropout) at this point. */
  rng: GeneratorState;
  /** Seconds of training so far, for throughput across resumes. */
  trainSeconds: number;
  imagesSeen: number;
  /**
   * The steps since the last metrics.jsonl line (their summed loss, correct predictions, images,
   * seconds), so the first line after a resume averages the same steps as without the stop.
   * Absent in checkpoints written before it existed.
   */
  window?: MetricsWindow;
}

export interface MetricsWindow {
  loss: number;
  correct: number;
  seen: number;
  steps: number;
  seconds: number;
}

export interface Checkpoint {
  model: Map<string, Tensor>;
  optimizer: OptimizerStateDict;
  position: TrainerPosition;
}

export async function saveCheckpoint(path: string, model: Module, optimizer: Optimizer, position: TrainerPosition): Promise<void> {
  const tensors = new Map<string, SafeTensor>();
  for (const [name, t] of model.stateDict()) tensors.set(`model.${name}`, { dtype: 'F32', shape: [...t.shape], data: t.data });
  const sd = optimizer.stateDict();
  const states = sd.state.map((s) => {
    for (const [buf, data] of Object.entries(s.buffers)) {
      tensors.set(`optim.${s.index}.${buf}`, { dtype: 'F32', shape: [data.length], data: Float32Array.from(data) });
    }
    return { index: s.index, step: s.step, buffers: Object.keys(s.buffers) };
  });
  await writeSafetensors(path, tensors, {
    format: 'bitvit-checkpoint',
    position: JSON.stringify(position),
    optimizer_groups: JSON.stringify(sd.groups),
    optimizer_state: JSON.stringify(states),
  });
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  if (metadata['format'] !== 'bitvit-checkpoint' || !metadata['position']) {
    throw new Error(`${path}: not a bitvit training checkpoint (no position in __metadata__)`);
  }
  const model = new Map<string, Tensor>();
  for (const [name, st] of tensors) {
    if (name.startsWith('model.')) model.set(name.slice(6), new Tensor(st.data as Float32Array, st.shape));
  }
  const parse = <T>(key: string): T => {
    try {
      return JSON.parse(metadata[key] ?? '') as T;
    } catch {
      throw new Error(`${path}: __metadata__.${key} is not valid JSON`);
    }
  };
  const states = parse<Array<{ index: number; step: number; buffers: string[] }>>('optimizer_state');
  const optimizer: OptimizerStateDict = {
    groups: parse('optimizer_groups'),
    state: states.map((s) => {
      const buffers: Record<string, Float32Array> = {};
      for (const b of s.buffers) {
        const t = tensors.get(`optim.${s.index}.${b}`);
        if (!t) throw new Error(`${path}: optimizer buffer optim.${s.index}.${b} is missing`);
        buffers[b] = t.data as Float32Array;
      }
      return { index: s.index, step: s.step, buffers };
    }),
  };
  return { model, optimizer, position: parse<TrainerPosition>('position') };
}

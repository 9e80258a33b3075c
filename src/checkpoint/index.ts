/** Checkpoint formats: safetensors, torch.save (zip and legacy), HF folders, BERT / BLINK names. */
export * from './types.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  SAFETENSORS_MAX_HEADER,
} from './safetensors.js';
export type { SafetensorsEntry, SafetensorsFile, SafetensorsHeader } from './safetensors.js';
export {
  decodeTorchCheckpoint,
  decodeTorchSave,
  readTorchCheckpoint,
  readTorchSave,
  sniffTorchFormat,
  TORCH_ALLOWED_GLOBALS,
} from './torch-zip.js';
export { DEFAULT_CHECKPOINT_LIMITS, checkExpected } from './limits.js';
export type { CheckpointLimits, ReadOptions, TensorExpectation } from './limits.js';
export type { TorchLoaded } from './torch-zip.js';
export * from './hf-names.js';
export * from './hf-folder.js';
export { writeFileAtomic, writeFolderAtomic } from '../data/atomic.js';
export { encodeTorchCheckpoint, encodeTorchSave, torchDict, writeTorchCheckpoint, writeTorchSave } from './torch-save.js';
export type { TorchDict, TorchSaveValue } from './torch-save.js';

/** Checkpoint formats: safetensors, torch.save (zip and legacy), HF folders, BERT / BLINK names. */
export * from './types.js';
export { decodeSafetensors, encodeSafetensors, readSafetensors, readSafetensorsHeader, writeSafetensors, SAFETENSORS_MAX_HEADER } from './safetensors.js';
export type { SafetensorsEntry, SafetensorsFile, SafetensorsHeader } from './safetensors.js';
export { decodeTorchCheckpoint, readTorchCheckpoint, sniffTorchFormat, TORCH_ALLOWED_GLOBALS } from './torch-zip.js';
export * from './hf-names.js';
export * from './hf-folder.js';
export { writeFileAtomic, writeFolderAtomic } from './atomic.js';
export { encodeTorchCheckpoint, writeTorchCheckpoint } from './torch-save.js';

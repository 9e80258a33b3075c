// What the engine found: the library's `info()` (and `biofeg info`).
import os from 'node:os';

import { addonLocation, engineInfo, packageVersion, setThreads, type EngineInfo } from '../native.js';

/** The engine's facts, the machine and the addon file in use. */
export interface EngineFacts extends EngineInfo {
  version: string;
  cpu: string;
  cores: number;
  platform: string;
  node: string;
  napi: string | undefined;
  addon: { source: string; path: string };
}

/** The package version (package.json). */
export function version(): string {
  return packageVersion();
}

/**
 * Loads the addon (on first use) and reports what it found: CUDA build and devices, GEMM engine,
 * CPU kernel, threads. `threads` sets the CPU thread count first (0 = all cores).
 */
export function info(options: { threads?: number } = {}): EngineFacts {
  if (options.threads !== undefined) setThreads(options.threads);
  const e = engineInfo();
  const addon = addonLocation();
  return {
    version: packageVersion(),
    ...e,
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.cpus().length,
    platform: `${process.platform}-${process.arch}`,
    node: process.versions.node,
    napi: process.versions.napi,
    addon: { source: addon.source, path: addon.path },
  };
}

// What the engine found: the library's `info()` (and `biofeg info`).
import os from 'node:os';

import { BiofegError } from '../errors.js';
import { addonLocation, engineInfo, packageVersion, setThreads, type EngineInfo } from '../native.js';

/** The fast CPU backend's kernel levels, lowest first (native/cpu/fast/cpu_level.h). */
export const CPU_LEVELS = ['generic', 'avx2', 'avx512', 'avx512bf16'] as const;
export type CpuLevel = (typeof CPU_LEVELS)[number];

/** The engine's facts, the machine and the addon file in use. */
export interface EngineFacts extends EngineInfo {
  version: string;
  /**
   * The CPU backend's kernel level in use: the detected one, or the lower one BIOFEG_CPU_KERNEL
   * asks for (a level the CPU lacks, or an unknown name, is a DeviceUnavailableError).
   */
  cpuLevel: CpuLevel;
  /** The highest level this CPU and its OS support. */
  cpuDetectedLevel: CpuLevel;
  /** The detected vector features that matter to the kernels (avx2 fma avx512f ... avx512_bf16). */
  cpuFeatures: string[];
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

function level(o: object, key: string): CpuLevel {
  const v: unknown = Reflect.get(o, key);
  const found = CPU_LEVELS.find((l) => l === v);
  if (found === undefined)
    throw new BiofegError(
      'ERR_BIOFEG_INTERNAL',
      `info(): the addon reported ${key} ${String(v)}; expected one of ${CPU_LEVELS.join(', ')}`,
    );
  return found;
}

function features(o: object): string[] {
  const v: unknown = Reflect.get(o, 'cpuFeatures');
  return Array.isArray(v) ? v.filter((f): f is string => typeof f === 'string') : [];
}

/**
 * Loads the addon (on first use) and reports what it found: CUDA build and devices, GEMM engine,
 * CPU kernel and level, CPU features, threads. `threads` sets the CPU thread count first (0 = all cores).
 */
export function info(options: { threads?: number } = {}): EngineFacts {
  if (options.threads !== undefined) setThreads(options.threads);
  const e = engineInfo();
  const addon = addonLocation();
  return {
    version: packageVersion(),
    ...e,
    cpuLevel: level(e, 'cpuLevel'),
    cpuDetectedLevel: level(e, 'cpuDetectedLevel'),
    cpuFeatures: features(e),
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.cpus().length,
    platform: `${process.platform}-${process.arch}`,
    node: process.versions.node,
    napi: process.versions.napi,
    addon: { source: addon.source, path: addon.path },
  };
}

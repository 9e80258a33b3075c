// The Linker and the entity index: linking from a Node service.
export { Linker } from './linker.js';
export type { LinkCandidate, LinkerBatch, LinkerInfo, LinkerOptions, LinkerStats, LinkMention, LinkOptions } from './types.js';
export { buildIndex, openIndex, EntityIndex } from './entity-index.js';
export type { EntityIndexInfo, IndexUpdateOptions } from './entity-index.js';
export type { BuildIndexSettings, BuildIndexResult, UpdateIndexResult } from './index-build.js';
export type { KbEntity } from './kb.js';

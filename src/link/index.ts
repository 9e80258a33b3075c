// The Linker and the entity index: linking from a Node service.
export { Linker } from './linker.js';
export type { LinkCandidate, LinkerInfo, LinkerOptions, LinkerStats, LinkMention, LinkOptions } from './types.js';

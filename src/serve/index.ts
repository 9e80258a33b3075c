// The HTTP service over a Linker (`biofeg serve`, or `createServer` in a host's own process).
export { createServer } from './server.js';
export type { ServeErrorCode } from './server.js';
export type { LinkServer, LinkService, ServeOptions, ServerAddress } from './types.js';

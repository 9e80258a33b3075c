import { parentPort } from 'node:worker_threads';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { tokenizeChunk, type RowSettings } from './cache-rows.js';
import { loadTokenizerFactory, type TokenizerFactory } from './tokenizer-factory.js';

/**
 * Worker side of the tokenisation pool: builds its own tokenizer, then turns chunks of raw source
 * bytes (whole lines, transferred, not copied) into cache rows, sent back transferred too.
 */

interface InitMsg {
  type: 'init';
  factory: TokenizerFactory;
  expectedHash: string;
  settings: RowSettings;
  path: string;
}
interface ChunkMsg {
  type: 'chunk';
  seq: number;
  bytes: Uint8Array;
  firstLine: number;
}

let tok: WordPieceTokenizer | undefined;
let init: InitMsg | undefined;

parentPort!.on('message', (msg: InitMsg | ChunkMsg) => {
  void (async () => {
    if (msg.type === 'init') {
      try {
        init = msg;
        tok = await loadTokenizerFactory(msg.factory);
        if (tok.hash !== msg.expectedHash)
          throw new Error(`worker tokenizer hash ${tok.hash} differs from the main thread's ${msg.expectedHash}`);
        parentPort!.postMessage({ type: 'ready' });
      } catch (e) {
        parentPort!.postMessage({ type: 'fatal', error: (e as Error).message });
      }
      return;
    }
    try {
      const { data, overflows } = tokenizeChunk(tok!, init!.settings, msg.bytes, msg.firstLine, init!.path);
      parentPort!.postMessage({ type: 'rows', seq: msg.seq, data, overflows }, [data.buffer as ArrayBuffer]);
    } catch (e) {
      parentPort!.postMessage({ type: 'rows', seq: msg.seq, error: (e as Error).message });
    }
  })();
});

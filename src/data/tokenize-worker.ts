import { parentPort } from 'node:worker_threads';
import type { WordPieceTokenizer } from '../tokenize/types.js';
import { tokenizeRows, type RowSettings } from './cache-rows.js';
import { loadTokenizerFactory, type TokenizerFactory } from './tokenizer-factory.js';

/** Worker side of the tokenisation pool: builds its own tokenizer, then turns line batches into rows. */

interface InitMsg {
  type: 'init';
  factory: TokenizerFactory;
  expectedHash: string;
  settings: RowSettings;
  path: string;
}
interface BatchMsg {
  type: 'batch';
  seq: number;
  lines: string[];
  lineNos: number[];
}

let tok: WordPieceTokenizer | undefined;
let init: InitMsg | undefined;

parentPort!.on('message', (msg: InitMsg | BatchMsg) => {
  void (async () => {
    if (msg.type === 'init') {
      try {
        init = msg;
        tok = await loadTokenizerFactory(msg.factory);
        if (tok.hash !== msg.expectedHash) throw new Error(`worker tokenizer hash ${tok.hash} differs from the main thread's ${msg.expectedHash}`);
        parentPort!.postMessage({ type: 'ready' });
      } catch (e) {
        parentPort!.postMessage({ type: 'fatal', error: (e as Error).message });
      }
      return;
    }
    try {
      const { data, overflows } = tokenizeRows(tok!, init!.settings, msg.lines, msg.lineNos, init!.path);
      parentPort!.postMessage({ type: 'rows', seq: msg.seq, data, overflows }, [data.buffer as ArrayBuffer]);
    } catch (e) {
      parentPort!.postMessage({ type: 'rows', seq: msg.seq, error: (e as Error).message });
    }
  })();
});

// `biofeg serve`: flags -> Linker.load + createServer. Listens at once (GET /health answers 503
// until the model and index are loaded); SIGTERM or Ctrl-C drains the requests in flight, closes
// the Linker and exits 0; a second signal quits at once.
import { performance } from 'node:perf_hooks';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { Linker } from '../../link/linker.js';
import type { LinkerOptions } from '../../link/types.js';
import { createServer } from '../../serve/server.js';
import type { ServeOptions } from '../../serve/types.js';
import { acceptSnakeCase, intAtLeast } from '../options.js';

interface ServeFlags {
  model: string;
  index: string;
  crossencoder?: string;
  host?: string;
  port?: number;
  device?: LinkerOptions['device'];
  precision?: LinkerOptions['precision'];
  threads?: number;
  maxBatchTokens?: number;
  maxWaitMs?: number;
  maxConcurrentRequests?: number;
  bodyLimit?: number;
  maxMentions?: number;
  maxTextLength?: number;
  maxTopK?: number;
  drainTimeoutMs?: number;
}

function portNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('--port expects an integer from 0 to 65535.');
  return n;
}

/** Defined entries only: the library's defaults apply to the rest. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve a bi-encoder and an entity index over HTTP: POST /link, POST /embed, GET /health, GET /metrics')
    .requiredOption('--model <dir>', 'bi-encoder checkpoint folder (biofeg or the original pytorch_model.bin)')
    .requiredOption('--index <dir>', 'entity index folder (biofeg index)')
    .option('--crossencoder <dir>', 'cross-encoder checkpoint folder (train-crossencoder): POST /link then takes "rerank": true')
    .option('--host <host>', 'interface to bind (default: 127.0.0.1, this machine only; 0.0.0.0 exposes it)')
    .addOption(new Option('--port <n>', 'TCP port (default: 8080; 0 picks a free one)').argParser(portNumber))
    .addOption(new Option('--device <device>', 'cpu, cuda or auto (default: auto)').choices(['cpu', 'cuda', 'auto']))
    .addOption(new Option('--precision <p>', 'f32, or bf16 (default: f32)').choices(['f32', 'bf16']))
    .addOption(new Option('--threads <n>', 'CPU threads (0 = all cores)').argParser(intAtLeast(0, 'threads')))
    .addOption(
      new Option('--max-batch-tokens <n>', 'tokens per coalesced encoder batch (default: 16384)').argParser(
        intAtLeast(1, 'max-batch-tokens'),
      ),
    )
    .addOption(
      new Option('--max-wait-ms <ms>', 'how long a batch waits for more mentions (default: 2)').argParser(intAtLeast(0, 'max-wait-ms')),
    )
    .addOption(
      new Option('--max-concurrent-requests <n>', 'queued plus in-flight mentions before 503 (default: 512)').argParser(
        intAtLeast(1, 'max-concurrent-requests'),
      ),
    )
    .addOption(
      new Option('--body-limit <bytes>', 'largest request body (default: 1048576; larger is 413)').argParser(intAtLeast(1, 'body-limit')),
    )
    .addOption(new Option('--max-mentions <n>', 'mentions (or texts) per request (default: 256)').argParser(intAtLeast(1, 'max-mentions')))
    .addOption(
      new Option('--max-text-length <n>', 'characters per mention text (default: 1024)').argParser(intAtLeast(1, 'max-text-length')),
    )
    .addOption(new Option('--max-top-k <n>', 'largest top_k a request may ask for (default: 100)').argParser(intAtLeast(1, 'max-top-k')))
    .addOption(
      new Option('--drain-timeout-ms <ms>', 'on SIGTERM, how long in-flight requests may take (default: 30000)').argParser(
        intAtLeast(0, 'drain-timeout-ms'),
      ),
    )
    .action(async (f: ServeFlags) => serve(f));
  acceptSnakeCase(cmd);
}

const EXIT_NOW = { SIGINT: 130, SIGTERM: 143 } as const;

async function serve(f: ServeFlags): Promise<void> {
  const say = (s: string): void => void process.stderr.write(`biofeg serve: ${s}\n`);
  const linkerOptions: LinkerOptions = defined({
    device: f.device,
    precision: f.precision,
    threads: f.threads,
    maxBatchTokens: f.maxBatchTokens,
    maxWaitMs: f.maxWaitMs,
    maxConcurrentRequests: f.maxConcurrentRequests,
    crossencoder: f.crossencoder,
  });
  const serveOptions: ServeOptions = defined({
    host: f.host,
    port: f.port,
    bodyLimit: f.bodyLimit,
    maxMentions: f.maxMentions,
    maxTexts: f.maxMentions,
    maxTextLength: f.maxTextLength,
    maxTopK: f.maxTopK,
    drainTimeoutMs: f.drainTimeoutMs,
  });

  const t0 = performance.now();
  const loading = Linker.load(f.model, f.index, linkerOptions);
  // Observed here and by the server; the rejection is rethrown below.
  loading.catch(() => {});
  const server = createServer(loading, { ...serveOptions, log: say });

  let got: keyof typeof EXIT_NOW | undefined;
  let onSignal: ((sig: keyof typeof EXIT_NOW) => void) | undefined;
  const signalled = new Promise<keyof typeof EXIT_NOW>((resolve) => {
    onSignal = (sig) => {
      if (got !== undefined) {
        say(`${sig} again: exiting without draining`);
        process.exit(EXIT_NOW[sig]);
      }
      got = sig;
      resolve(sig);
    };
  });
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
    const h = (): void => onSignal?.(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });

  try {
    try {
      await server.listen();
    } catch (e) {
      await loading.then((l) => l.close()).catch(() => {});
      throw e;
    }
    say(`loading ${f.model} and ${f.index} (GET /health answers 503 until they are)`);
    const ready = loading.then((linker) => {
      const i = linker.info();
      const s = ((performance.now() - t0) / 1000).toFixed(2);
      say(
        `ready in ${s} s: ${i.entities} entities x ${i.dim} ${i.dtype}, ${i.device}, mention window ${i.maxContextLength} tokens${i.crossencoder ? `, reranking with ${i.crossencoder}` : ''}`,
      );
    });
    let sig: keyof typeof EXIT_NOW;
    try {
      sig = await Promise.race([signalled, ready.then(() => signalled)]);
    } catch (e) {
      say('the model or index failed to load');
      await server.close();
      throw e;
    }
    say(`${sig} received: draining ${server.inFlight()} in-flight request(s) (send it again to quit at once)`);
    await server.close();
    const linker = await loading.catch(() => undefined);
    await linker?.close();
    say('stopped');
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

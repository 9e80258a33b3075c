// npm run bench:serve [-- --sizes tiny,base --devices cpu[,cuda] --concurrency 1,16,64 --seconds 6
//   --max-requests 20000 --mentions-per-request 1 --top-k 8 --threads N --kb FILE --peer onnx|none
//   --precision f32|bf16]
//
// The linking service end to end on loopback: for each model size and device, `biofeg serve` runs in
// a child process (a seeded random bi-encoder of that size and an index of the built-in entities,
// made once under runs/bench-serve/), and autocannon POSTs /link bodies (test-split mentions with
// their context) at each concurrency. Each cell is a fixed number of requests, sized from a warm-up
// to take about --seconds, so every request sent is answered (a timed stop would drop the ones in
// flight); the cell fails past a time limit. Reported: linked mentions/s, p50/p99 latency, and
// failed or lost requests (autocannon's errors, timeouts and non-2xx, and the server's own count of
// 200s against autocannon's). The server is stopped with SIGTERM and must exit 0.
// On the CPU the same cells run against the onnxruntime-node peer (bench/peers/serve_onnx.ts: the
// same weights exported to ONNX by bench/peers/export_biencoder_onnx.py, which needs torch,
// transformers and onnx; a JS tokenizer, one session.run per request, a brute-force top-k in JS,
// behind the same HTTP layer); bar: linked mentions/s at the highest concurrency at least 1.5x the
// peer's. Writes bench/results/serve-<device>-<cpu>[-bf16].json. CUDA rows run when the engine sees a
// device. --precision bf16 serves ours in bf16 (on the CPU where it has AVX512_BF16; the peer
// stays f32, as issue 17's bf16 bars compare).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import type { BertSize } from '../src/models/init.js';
import { engineInfo } from '../src/native.js';
import { cpuId, flagValue, machine, table, writeResult } from './common.js';
import { BENCH_MENTION_WINDOW, BUILTIN_KB, writeRandomBiencoder } from './serve-model.js';
import { fmaPeakGflops, mentionWork, type ServeWork } from './serve-work.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const WORK = join(ROOT, 'runs', 'bench-serve');

type Device = 'cpu' | 'cuda';

type Side = 'biofeg' | 'onnx-peer';

interface Cell {
  side: Side;
  size: BertSize;
  device: Device;
  concurrency: number;
  requests: number;
  mentionsPerRequest: number;
  seconds: number;
  mentionsPerSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  failed: number;
  lost: number;
  statusCodes: Record<string, number>;
  loadAvg1: number;
  /** biofeg only: share of the cell's wall time the Linker spent in batches (tokenize, encode, search). */
  encoderBusy?: number;
  meanBatchMentions?: number;
}

// --prepare SIZE DIR: a child's job, so the bench process never holds a model's weights.
if (process.argv[2] === '--prepare') {
  const [size, dir] = [process.argv[3] as BertSize, process.argv[4]!];
  await writeRandomBiencoder(join(dir, 'model'), size);
  process.exit(0);
}

function run(args: string[], what: string): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    c.once('exit', (code) => (code === 0 ? res() : rej(new Error(`${what} exited ${code}`))));
  });
}

/** runs/bench-serve/<size>/{model,index}, made once (a stamp records the KB it was built from). */
async function ensureModel(size: BertSize, kb: string, device: Device): Promise<{ model: string; index: string }> {
  const dir = join(WORK, size);
  const model = join(dir, 'model');
  const index = join(dir, 'index');
  const stamp = join(dir, 'stamp.json');
  const want = JSON.stringify({ size, kb, seed: 52313, version: 1 });
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want && existsSync(index)) return { model, index };
  console.log(`preparing ${size}: random bi-encoder and index of ${kb} under ${dir}`);
  await run([fileURLToPath(import.meta.url), '--prepare', size, dir], `prepare ${size}`);
  await run([CLI, 'index', '--model', model, '--kb', kb, '--out', index, '--device', device, '--silent'], `biofeg index (${size})`);
  writeFileSync(stamp, want);
  return { model, index };
}

interface Server {
  url: string;
  child: ChildProcessWithoutNullStreams;
  exited: Promise<number | null>;
  stderr: () => string;
}

function serveArgs(model: string, index: string, device: Device, threads: string, precision: string): string[] {
  const args = [CLI, 'serve', '--model', model, '--index', index, '--host', '127.0.0.1', '--port', '0', '--device', device];
  args.push('--precision', precision);
  if (threads !== '') args.push('--threads', threads);
  // The largest cell's mentions all fit in the Linker's admission limit: a 503 here is a failure.
  args.push('--max-concurrent-requests', '4096');
  return args;
}

/** Starts a server script that prints `listening on URL` on stderr, and waits for GET /health 200. */
async function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 600_000;
  let url: string | undefined;
  for (;;) {
    url ??= /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1];
    if (url) {
      const ok = await fetch(`${url}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
    }
    if (child.exitCode !== null) throw new Error(`${args[1]} exited ${child.exitCode}:\n${err}`);
    if (Date.now() > deadline) throw new Error(`${args[1]} not ready in time:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: url!, child, exited, stderr: () => err };
}

/** The ONNX export of a bench model (skipped by the script when up to date); undefined with the reason when it cannot run. */
function ensureOnnx(model: string, out: string): Promise<string | { reason: string }> {
  return new Promise((res) => {
    const c = spawn('python3', [join(ROOT, 'bench', 'peers', 'export_biencoder_onnx.py'), '--model', model, '--out', out], { cwd: ROOT });
    let err = '';
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.stdout.resume();
    c.once('error', (e) => res({ reason: `python3: ${e.message}` }));
    c.once('exit', (code) =>
      res(code === 0 ? out : { reason: `export_biencoder_onnx.py exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}` }),
    );
  });
}

async function stopServer(s: Server): Promise<number | null> {
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 60_000);
  const code = await s.exited;
  clearTimeout(t);
  return code;
}

interface ServerCounts {
  /** Answered POST /link requests with status 200. */
  ok200: number;
  /** The Linker's encoder batches: count, mentions and seconds (tokenize, encode, search) summed; absent on the peer. */
  batches?: { count: number; mentions: number; seconds: number };
}

/** A metric's value summed over its label sets (undefined when the server has no such metric). */
function metricSum(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm');
  let sum: number | undefined;
  for (const m of text.matchAll(re)) sum = (sum ?? 0) + Number(m[1]);
  return sum;
}

async function serverCounts(url: string): Promise<ServerCounts> {
  const m = await (await fetch(`${url}/metrics`)).text();
  const ok200 = Number(/^biofeg_http_requests_total\{route="\/link",method="POST",status="200"\} (\d+)$/m.exec(m)?.[1] ?? 0);
  const count = metricSum(m, 'biofeg_linker_batch_duration_seconds_count');
  const seconds = metricSum(m, 'biofeg_linker_batch_duration_seconds_sum');
  const mentions = metricSum(m, 'biofeg_linker_batch_mentions_sum');
  return count !== undefined && seconds !== undefined && mentions !== undefined
    ? { ok200, batches: { count, mentions, seconds } }
    : { ok200 };
}

/** Test-split mentions with their context, as a service would receive them. */
function mentionPool(): Array<{ text: string; left: string; right: string }> {
  const dir = join(ROOT, 'data', 'default');
  const read = (f: string) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const docs = new Map(read('documents/test.json').map((d) => [String(d['document_id']), String(d['text']).split(' ')]));
  return read('mentions/test.json').map((m) => {
    const words = docs.get(String(m['context_document_id'])) ?? [];
    const s = Number(m['start_index']);
    const e = Number(m['end_index']);
    return { text: String(m['text']), left: words.slice(0, s).join(' '), right: words.slice(e + 1).join(' ') };
  });
}

interface Fired {
  result: autocannon.Result;
  /** From the first request to the last response (autocannon's own duration ends on a whole-second tick). */
  seconds: number;
}

function fire(url: string, connections: number, amount: number, bodies: string[], limitMs: number): Promise<Fired> {
  let i = 0;
  const t0 = performance.now();
  let last = t0;
  return new Promise((res, rej) => {
    const inst = autocannon(
      {
        url: `${url}/link`,
        connections,
        amount,
        timeout: Math.ceil(limitMs / 1000),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length]! }),
          },
        ],
      },
      (err, result) => {
        clearTimeout(guard);
        if (err) rej(err);
        else res({ result, seconds: (last - t0) / 1000 });
      },
    );
    inst.on('response', () => {
      last = performance.now();
    });
    // Bounded in time whatever happens: a stopped run reports what it got (short of `amount`: lost).
    const guard = setTimeout(() => inst.stop(), limitMs);
  });
}

async function measure(
  side: Side,
  s: Server,
  size: BertSize,
  device: Device,
  c: number,
  bodies: string[],
  perRequest: number,
  seconds: number,
  maxRequests: number,
): Promise<Cell> {
  // Warm-up: sizes the cell and lets the batcher and allocator settle at this concurrency.
  const warmN = Math.max(2 * c, 8);
  const warm = await fire(s.url, c, warmN, bodies, 300_000);
  const rate = warmN / Math.max(warm.seconds, 1e-3);
  const amount = Math.min(maxRequests, Math.max(4 * c, 16, Math.round(rate * seconds)));
  const c0 = await serverCounts(s.url);
  const before = c0.ok200;
  const loadAvg1 = os.loadavg()[0]!;
  const { result: r, seconds: took } = await fire(s.url, c, amount, bodies, Math.max(60_000, (amount / rate) * 4000));
  const c1 = await serverCounts(s.url);
  const after = c1.ok200;
  // The Linker's worker busy in batches over the cell's wall time, and its mean batch.
  const batches =
    c0.batches && c1.batches && c1.batches.count > c0.batches.count
      ? {
          encoderBusy: (c1.batches.seconds - c0.batches.seconds) / took,
          meanBatchMentions: (c1.batches.mentions - c0.batches.mentions) / (c1.batches.count - c0.batches.count),
        }
      : {};
  const ok = r['2xx'];
  const failed = r.errors + r.timeouts + r.non2xx;
  // Lost: sent but neither answered nor counted as failed, or answered by autocannon's count and not the server's.
  const lost = Math.max(0, amount - ok - failed) + Math.abs(after - before - ok);
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, Number(v.count)]));
  return {
    side,
    size,
    device,
    concurrency: c,
    requests: amount,
    mentionsPerRequest: perRequest,
    seconds: took,
    mentionsPerSec: (ok * perRequest) / took,
    requestsPerSec: ok / took,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    failed,
    lost,
    statusCodes,
    loadAvg1,
    ...batches,
  };
}

async function main(): Promise<void> {
  const sizes = flagValue('sizes', 'tiny,base').split(',') as BertSize[];
  for (const s of sizes) if (!['tiny', 'small', 'base'].includes(s)) throw new Error(`--sizes: unknown size ${s} (tiny, small, base)`);
  const info = engineInfo();
  const hasCuda = info.cudaCompiled && info.cudaDevices > 0;
  const devices = flagValue('devices', hasCuda ? 'cpu,cuda' : 'cpu').split(',') as Device[];
  if (devices.includes('cuda') && !hasCuda) throw new Error('--devices cuda: no CUDA device in this build or on this machine');
  const concurrency = flagValue('concurrency', '1,16,64')
    .split(',')
    .map((x) => Number(x));
  const seconds = Number(flagValue('seconds', '6'));
  const maxRequests = Number(flagValue('max-requests', '20000'));
  const perRequest = Number(flagValue('mentions-per-request', '1'));
  const topK = Number(flagValue('top-k', '8'));
  const threads = flagValue('threads', '');
  const precision = flagValue('precision', 'f32');
  if (precision !== 'f32' && precision !== 'bf16') throw new Error(`--precision: f32 or bf16, got ${precision}`);
  const kb = resolve(flagValue('kb', BUILTIN_KB));
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency: positive integers');
  if (!(seconds > 0) || !(maxRequests >= 1) || !(perRequest >= 1) || !(topK >= 1))
    throw new Error('--seconds, --max-requests, --mentions-per-request, --top-k: positive');

  const m = machine();
  const cpu = cpuId();
  console.log(
    `machine: ${String(m['cpu'])} (${cpu.tag}; ${cpu.flags.join(' ')}), ${os.availableParallelism()} threads, load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `engine: ${JSON.stringify({ cpuKernel: info.cpuKernel, gemm: info.gemmEngine, threads: info.threads, cuda: hasCuda ? info.cudaDevice : 'none' })}; server threads: ${threads || 'engine default'}; ours in ${precision} (the onnx peer f32)`,
  );

  const pool = mentionPool();
  const bodies: string[] = [];
  for (let i = 0; i < pool.length; i += perRequest) {
    const mentions = Array.from({ length: perRequest }, (_, j) => pool[(i + j) % pool.length]!);
    bodies.push(JSON.stringify({ mentions, top_k: topK }));
  }

  const peerWanted = flagValue('peer', 'onnx') === 'onnx';
  const cells: Cell[] = [];
  const exits: Record<string, number | null> = {};
  const peerNotes: Record<string, string> = {};
  const cellsOf = async (side: Side, s: Server, size: BertSize, device: Device) => {
    for (const c of concurrency) {
      const cell = await measure(side, s, size, device, c, bodies, perRequest, seconds, maxRequests);
      cells.push(cell);
      console.log(
        `${side} ${device} ${size} c=${c}: ${cell.mentionsPerSec.toFixed(1)} mentions/s, p50 ${cell.p50Ms} ms, p99 ${cell.p99Ms} ms, ${cell.requests} requests, failed ${cell.failed}, lost ${cell.lost}${cell.encoderBusy !== undefined ? `, batches busy ${(100 * cell.encoderBusy).toFixed(0)}% (mean ${cell.meanBatchMentions!.toFixed(1)} mentions)` : ''} (load ${cell.loadAvg1.toFixed(2)})`,
      );
    }
  };
  for (const device of devices) {
    for (const size of sizes) {
      const { model, index } = await ensureModel(size, kb, device);
      const s = await startServer(serveArgs(model, index, device, threads, precision));
      try {
        await cellsOf('biofeg', s, size, device);
      } finally {
        exits[`biofeg-${device}-${size}`] = await stopServer(s);
      }
      if (!peerWanted || device !== 'cpu') continue;
      const onnx = await ensureOnnx(model, join(WORK, size, 'onnx'));
      if (typeof onnx !== 'string') {
        peerNotes[size] = `not run: ${onnx.reason}`;
        console.log(`onnx peer ${size}: ${peerNotes[size]}`);
        continue;
      }
      const peerArgs = [
        join(ROOT, 'bench', 'peers', 'serve_onnx.ts'),
        '--onnx',
        onnx,
        '--kb',
        kb,
        '--threads',
        threads || String(os.availableParallelism()),
      ];
      const p = await startServer(peerArgs);
      try {
        await cellsOf('onnx-peer', p, size, device);
      } finally {
        exits[`onnx-peer-${device}-${size}`] = await stopServer(p);
      }
    }
  }

  console.log(
    `\n${table(
      cells.map((c) => ({
        side: c.side,
        device: c.device,
        size: c.size,
        conc: c.concurrency,
        requests: c.requests,
        'mentions/s': c.mentionsPerSec,
        'p50 ms': c.p50Ms,
        'p99 ms': c.p99Ms,
        failed: c.failed,
        lost: c.lost,
        load1: c.loadAvg1,
      })),
    )}`,
  );
  const top = Math.max(...concurrency);
  const bar = cells.filter((c) => c.concurrency === top);
  const clean = bar.every((c) => c.failed === 0 && c.lost === 0);
  const exitsOk = Object.values(exits).every((code) => code === 0);
  console.log(
    `bar: zero failed or lost requests at concurrency ${top}: ${clean ? 'ok' : 'NO'}; servers exited 0 on SIGTERM: ${exitsOk ? 'ok' : 'NO'}`,
  );
  const ratios: Record<string, { ours: number; peer: number; ratio: number; pass: boolean }> = {};
  // The work behind the figures: each side's encoder GFLOP/s at the top concurrency as a share of
  // the FMA peak measured now, and the share the bar would take (what 1.5x the peer means here).
  const peak = devices.includes('cpu') ? fmaPeakGflops() : undefined;
  const work: Record<string, ServeWork> = {};
  for (const size of sizes) {
    const ours = bar.find((c) => c.side === 'biofeg' && c.device === 'cpu' && c.size === size);
    const peer = bar.find((c) => c.side === 'onnx-peer' && c.size === size);
    if (ours && peak) {
      const w = mentionWork(size, pool, BENCH_MENTION_WINDOW);
      const share = (mps: number) => (mps * w.gflopPerMention) / peak.gflops;
      work[size] = {
        ...w,
        peakGflops: peak.gflops,
        peakWidth: peak.width,
        oursShare: share(ours.mentionsPerSec),
        ...(peer ? { peerShare: share(peer.mentionsPerSec), barShare: share(1.5 * peer.mentionsPerSec) } : {}),
      };
      const x = work[size]!;
      const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
      console.log(
        `work: ${size} cpu c=${top}: ${w.tokensPerMention.toFixed(1)} real tokens, ${w.gflopPerMention.toFixed(2)} GFLOP per mention; f32 FMA peak ${peak.gflops.toFixed(0)} GFLOP/s (${peak.width}); ours ${pct(x.oursShare)} of it${x.peerShare !== undefined ? `, the peer ${pct(x.peerShare)}, the bar (1.5x the peer) ${pct(x.barShare!)}` : ''}`,
      );
    }
    if (!ours || !peer) continue;
    const ratio = ours.mentionsPerSec / peer.mentionsPerSec;
    ratios[size] = { ours: ours.mentionsPerSec, peer: peer.mentionsPerSec, ratio, pass: ratio >= 1.5 };
    console.log(
      `bar (issue 18, point 6): ${size} cpu c=${top}: ${ours.mentionsPerSec.toFixed(1)} / ${peer.mentionsPerSec.toFixed(1)} mentions/s = ${ratio.toFixed(2)}x the onnxruntime-node peer (bar 1.5x): ${ratio >= 1.5 ? 'ok' : 'NO'}`,
    );
  }
  for (const [size, note] of Object.entries(peerNotes)) console.log(`onnx peer ${size}: ${note}`);
  const peer = peerWanted ? { ratios, notes: peerNotes } : 'not run (--peer none)';

  const tag = devices.includes('cuda') && devices.length === 1 ? 'cuda' : devices.join('-');
  const file = writeResult(`serve-${tag}-${cpu.tag}${precision === 'bf16' ? '-bf16' : ''}.json`, {
    machine: { ...m, availableParallelism: os.availableParallelism(), loadavg: os.loadavg() },
    settings: {
      sizes,
      devices,
      concurrency,
      seconds,
      maxRequests,
      mentionsPerRequest: perRequest,
      topK,
      precision,
      threads: threads || 'engine default',
      kb,
    },
    note: 'random seeded bi-encoders of each size over the built-in vocabulary; index of the KB above; bodies are test-split mentions with context',
    cells,
    serverExitCodes: exits,
    bars: { zeroFailedOrLostAtTopConcurrency: clean, serversExitedZero: exitsOk, peerRatio: ratios },
    work,
    peer,
  });
  console.log(`wrote ${file}`);
  if (!clean || !exitsOk) process.exitCode = 1;
}

await main();

// The server over the real Linker and a real (tiny, random) model and entity index: HTTP answers
// equal the Linker's own; the Linker's overload is a 503. Then `biofeg serve` as a child process:
// ready over HTTP, SIGTERM while requests are in flight drains them all and exits 0, and a missing
// index exits 1 with the path.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BUILTIN_KB, writeRandomBiencoder } from '../../bench/serve-model.js';
import { createServer, Linker, type LinkCandidate } from '../../src/index.js';
import { buildIndex } from '../../src/link/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
let dir: string;
let model: string;
let index: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'biofeg-serve-'));
  model = join(dir, 'model');
  index = join(dir, 'index');
  await writeRandomBiencoder(model, 'tiny');
  await buildIndex({ model, kb: BUILTIN_KB, out: index, device: 'cpu' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MENTIONS = [
  'bipolar disorder',
  { text: 'CIP', left: 'The role of ciprofloxacin (', right: ') remains debated .' },
  'asthma',
  { text: 'atrial flutter', left: 'a history of' },
];

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('createServer over a real Linker', () => {
  it('answers what the Linker answers, in mention order; health reports the index; overload is 503', async () => {
    const linker = await Linker.load(model, index, { device: 'cpu' });
    const server = createServer(linker, { port: 0 });
    try {
      const { url } = await server.listen();
      const h = await fetch(`${url}/health`);
      expect(h.status).toBe(200);
      expect(await h.json()).toMatchObject({ status: 'ready', entities: 439, dim: 128, dtype: 'f32', device: 'cpu', maxContextLength: 32 });

      const r = await post(`${url}/link`, { mentions: MENTIONS, top_k: 5 });
      expect(r.status).toBe(200);
      const direct = await linker.link(MENTIONS, { topK: 5 });
      const results = r.json['results'] as Array<{ candidates: LinkCandidate[] }>;
      expect(results.map((x) => x.candidates)).toEqual(direct);
      for (const { candidates } of results) {
        expect(candidates).toHaveLength(5);
        for (let j = 1; j < candidates.length; j++) expect(candidates[j]!.score).toBeLessThanOrEqual(candidates[j - 1]!.score);
        for (const c of candidates) expect(c.id).toMatch(/^BF:\d+$/);
      }

      const e = await post(`${url}/embed`, { texts: ['asthma', 'bipolar disorder'] });
      expect(e.status).toBe(200);
      const vectors = await linker.embed(['asthma', 'bipolar disorder']);
      expect(e.json['embeddings']).toEqual(vectors.map((v) => Array.from(v)));

      // Every batch the Linker ran (the server's and the direct calls above) is in the histograms.
      const m = await (await fetch(`${url}/metrics`)).text();
      const num = (re: RegExp) => Number(re.exec(m)?.[1]);
      expect(num(/^biofeg_linker_batch_mentions_sum\{kind="link"\} (\d+)$/m)).toBe(2 * MENTIONS.length);
      expect(num(/^biofeg_linker_batch_mentions_count\{kind="link"\} (\d+)$/m)).toBeGreaterThanOrEqual(2);
      expect(num(/^biofeg_linker_batch_mentions_sum\{kind="embed"\} (\d+)$/m)).toBe(4);
      expect(num(/^biofeg_linker_batch_tokens_sum\{kind="link"\} (\d+)$/m)).toBeGreaterThanOrEqual(2 * MENTIONS.length * 3);
      expect(num(/^biofeg_linker_batch_mentions_count\{kind="link"\} (\d+)$/m)).toBe(
        linker.stats().batches - num(/^biofeg_linker_batch_mentions_count\{kind="embed"\} (\d+)$/m),
      );
    } finally {
      await server.close();
      await linker.close();
    }

    // A queued mention waits up to 300 ms for company: the other requests meanwhile find it full.
    const small = await Linker.load(model, index, { device: 'cpu', maxConcurrentRequests: 2, maxWaitMs: 300 });
    const s2 = createServer(small, { port: 0 });
    try {
      const { url } = await s2.listen();
      const answers = await Promise.all(Array.from({ length: 8 }, () => post(`${url}/link`, { mentions: ['a', 'b'] })));
      const statuses = answers.map((a) => a.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(503);
      for (const a of answers) if (a.status === 503) expect(a.json['code']).toBe('ERR_BIOFEG_OVERLOADED');
      // More mentions in one request than the Linker ever admits: no retry can help, so 400.
      const big = await post(`${url}/link`, { mentions: ['a', 'b', 'c'] });
      expect([big.status, big.json['code']]).toEqual([400, 'ERR_BIOFEG_BAD_REQUEST']);
      expect(big.json['message']).toMatch(/exceed maxConcurrentRequests/);
    } finally {
      await s2.close();
      await small.close();
    }
  });
  it('a client that goes away cancels its queued mentions before the Linker encodes them', async () => {
    // Queued mentions wait 500 ms for company: the abort below lands while they wait.
    const linker = await Linker.load(model, index, { device: 'cpu', maxWaitMs: 500 });
    const server = createServer(linker, { port: 0 });
    try {
      const { url } = await server.listen();
      const ac = new AbortController();
      const gone = fetch(`${url}/link`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mentions: ['asthma', 'bipolar disorder'] }),
        signal: ac.signal,
      });
      const t0 = Date.now();
      while (linker.stats().queued < 2) {
        if (Date.now() - t0 > 5000) throw new Error('the request never reached the Linker');
        await new Promise((r) => setTimeout(r, 2));
      }
      ac.abort();
      await expect(gone).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 800));
      expect(linker.stats()).toMatchObject({ queued: 0, inFlight: 0, batches: 0 });
      const m = await (await fetch(`${url}/metrics`)).text();
      expect(m).toMatch(/^biofeg_http_requests_total\{route="\/link",method="POST",status="499"\} 1$/m);
      expect((await post(`${url}/link`, { mentions: ['asthma'] })).status).toBe(200);
      expect(linker.stats().batches).toBe(1);
    } finally {
      await server.close();
      await linker.close();
    }
  });
});

/** `biofeg serve ...` from the sources, with its stderr collected. */
function serveChild(args: string[]): { child: ChildProcessWithoutNullStreams; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', ...args], {
    cwd: ROOT,
    env: process.env,
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stderr: () => err, exited };
}

async function until<T>(get: () => T | undefined | Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('biofeg serve (child process)', () => {
  it('serves on 127.0.0.1; SIGTERM with requests in flight answers them all, then exits 0', async () => {
    const s = serveChild(['--model', model, '--index', index, '--port', '0', '--device', 'cpu', '--max-concurrent-requests', '4096']);
    try {
      const url = await until(() => /listening on (http:\/\/\S+)/.exec(s.stderr())?.[1], 'the listening line');
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await until(async () => ((await fetch(`${url}/health`)).status === 200 ? true : undefined), 'ready');

      // Enough work that some of it is still queued or encoding when the signal arrives.
      const body = { mentions: Array.from({ length: 256 }, (_, i) => `mention ${i}`), top_k: 3 };
      const inflight = Array.from({ length: 6 }, () => post(`${url}/link`, body));
      await until(async () => {
        const m = await (await fetch(`${url}/metrics`)).text();
        const n = Number(/^biofeg_http_in_flight_requests (\d+)$/m.exec(m)?.[1] ?? 0);
        return n >= 2 ? true : undefined; // this scrape and at least one /link
      }, 'a /link request in flight');
      s.child.kill('SIGTERM');
      const answered = await Promise.all(inflight);
      expect(answered.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
      for (const a of answered) expect(a.json['results']).toHaveLength(256);
      expect(await s.exited).toBe(0);
      expect(s.stderr()).toMatch(/SIGTERM received: draining [1-9]\d* in-flight request/);
      expect(s.stderr()).toMatch(/stopped/);
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('exits 1 naming the index when it cannot be loaded', async () => {
    const missing = join(dir, 'no-such-index');
    const s = serveChild(['--model', model, '--index', missing, '--port', '0', '--device', 'cpu']);
    try {
      expect(await s.exited).toBe(1);
      expect(s.stderr()).toContain(missing);
      expect(s.stderr()).toMatch(/failed to load/);
    } finally {
      s.child.kill('SIGKILL');
    }
  });
});

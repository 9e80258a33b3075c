// POST /link with "rerank": true over a real Linker with a cross-encoder: the Linker's reranked
// answer, crossScore included; a non-boolean rerank is a schema 400; rerank on a server whose
// Linker has no cross-encoder is a 400 naming the fix; `biofeg serve --crossencoder` serves it.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createServer, Linker, type LinkCandidate } from '../../src/index.js';
import { cleanup } from '../eval/retrieve-helpers.js';
import { type RerankFixture, rerankFixture } from '../link/rerank-fixture.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
let f: RerankFixture;
beforeAll(async () => {
  f = await rerankFixture();
}, 120_000);
afterAll(cleanup);

const MENTIONS = ['multiple sclerosis', { text: 'CIP', left: 'treated with', right: 'for a week' }, 'asthma'];

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
const candidatesOf = (json: Record<string, unknown>) =>
  (json['results'] as Array<{ candidates: LinkCandidate[] }>).map((r) => r.candidates);

describe('POST /link with rerank', () => {
  it("answers the Linker's reranked candidates (with crossScore); a non-boolean rerank is 400", async () => {
    const linker = await Linker.load(f.ck, f.idx, { device: 'cpu', crossencoder: f.cross });
    const server = createServer(linker, { port: 0 });
    try {
      const { url } = await server.listen();
      expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'ready', crossencoder: f.cross });
      const r = await post(`${url}/link`, { mentions: MENTIONS, top_k: 6, rerank: true });
      expect(r.status).toBe(200);
      const got = candidatesOf(r.json);
      expect(got).toEqual(await linker.link(MENTIONS, { topK: 6, rerank: true }));
      for (const cands of got) {
        expect(cands).toHaveLength(6);
        for (const c of cands) expect(typeof c.crossScore).toBe('number');
        for (let j = 1; j < cands.length; j++) expect(cands[j]!.crossScore!).toBeLessThanOrEqual(cands[j - 1]!.crossScore!);
      }
      // Without rerank: the bi-encoder's order and no crossScore.
      const plain = await post(`${url}/link`, { mentions: MENTIONS, top_k: 6, rerank: false });
      expect(candidatesOf(plain.json)).toEqual(await linker.link(MENTIONS, { topK: 6 }));
      for (const c of candidatesOf(plain.json).flat()) expect(c.crossScore).toBeUndefined();

      const bad = await post(`${url}/link`, { mentions: MENTIONS, rerank: 'yes' });
      expect([bad.status, bad.json['code'], bad.json['message']]).toEqual([400, 'ERR_BIOFEG_BAD_REQUEST', 'body.rerank must be a boolean']);
    } finally {
      await server.close();
      await linker.close();
    }
  }, 60_000);

  it('is a 400 naming the fix when the Linker has no cross-encoder', async () => {
    const linker = await Linker.load(f.ck, f.idx, { device: 'cpu' });
    const server = createServer(linker, { port: 0 });
    try {
      const { url } = await server.listen();
      const r = await post(`${url}/link`, { mentions: MENTIONS, rerank: true });
      expect([r.status, r.json['code']]).toEqual([400, 'ERR_BIOFEG_BAD_REQUEST']);
      expect(r.json['message']).toMatch(/rerank needs a cross-encoder.*--crossencoder DIR/);
      expect((await post(`${url}/link`, { mentions: MENTIONS })).status).toBe(200);
    } finally {
      await server.close();
      await linker.close();
    }
  }, 60_000);

  it('biofeg serve --crossencoder DIR reranks', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/cli/main.ts'),
        'serve',
        '--model',
        f.ck,
        '--index',
        f.idx,
        '--crossencoder',
        f.cross,
        '--port',
        '0',
        '--device',
        'cpu',
      ],
      { cwd: ROOT, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      const end = Date.now() + 60_000;
      while (!/reranking with/.test(err)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`serve did not get ready: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /listening on (http:\/\/\S+)/.exec(err)![1]!;
      const r = await post(`${url}/link`, { mentions: MENTIONS, top_k: 4, rerank: true });
      expect(r.status).toBe(200);
      for (const c of candidatesOf(r.json).flat()) expect(typeof c.crossScore).toBe('number');
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});

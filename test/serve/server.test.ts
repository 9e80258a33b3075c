// createServer over a fake LinkService, on a loopback port, called over HTTP with fetch: the API's
// shapes, every 4xx/5xx case, overload, client abort, drain on close, health while loading, metrics.
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';

import { BiofegError, InputError } from '../../src/errors.js';
import { createServer, type LinkServer, type LinkService, type ServeOptions } from '../../src/index.js';
import { FAKE_INFO, FakeLinker, fakeCandidates } from './fake.js';

const servers: LinkServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(linker: LinkService | Promise<LinkService>, o: ServeOptions = {}) {
  const server = createServer(linker, { port: 0, ...o });
  servers.push(server);
  const { url, host, port } = await server.listen();
  return { server, url, host, port };
}

/** POSTs `body` (JSON-encoded unless already a string) and returns status, headers and parsed JSON. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('POST /link', () => {
  it('answers candidates per mention in mention order, with top_k and the default of 8', async () => {
    const fake = new FakeLinker();
    const { url } = await start(fake);
    const mentions = ['type 2 diabetes', { text: 'BRCA1', left: 'mutations in ', right: ' raise the risk' }, 'asthma'];
    const r = await post(`${url}/link`, { mentions, top_k: 3 });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ results: mentions.map((m) => ({ candidates: fakeCandidates(m, 3) })) });
    // The mention objects reach the Linker as sent (context included).
    expect(fake.calls[0]!.mentions).toEqual(mentions);
    expect(fake.calls[0]!.topK).toBe(3);

    const d = await post(`${url}/link`, { mentions: ['x'] });
    expect((d.json['results'] as Array<{ candidates: unknown[] }>)[0]!.candidates).toHaveLength(8);
    expect(fake.calls[1]!.topK).toBe(8);
  });

  it('binds 127.0.0.1 unless told otherwise', async () => {
    const { host } = await start(new FakeLinker());
    expect(host).toBe('127.0.0.1');
  });
});

describe('POST /embed', () => {
  it('answers one vector per text', async () => {
    const { url } = await start(new FakeLinker());
    const r = await post(`${url}/embed`, { texts: ['abc', 'de'] });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      embeddings: [
        [3, 0.5, -0.25, 1],
        [2, 0.5, -0.25, 1],
      ],
    });
  });
});

describe('bad requests', () => {
  const limits: ServeOptions = { maxMentions: 4, maxTexts: 2, maxTextLength: 20, maxContextChars: 50, maxTopK: 16, bodyLimit: 4096 };
  // [name, path, body, status, code, message pattern]
  const cases: Array<[string, string, unknown, number, string, RegExp]> = [
    ['malformed JSON', '/link', '{"mentions": [', 400, 'ERR_BIOFEG_BAD_REQUEST', /not valid JSON/],
    ['an empty body', '/link', '', 400, 'ERR_BIOFEG_BAD_REQUEST', /body is empty/],
    ['a body that is not an object', '/link', ['x'], 400, 'ERR_BIOFEG_BAD_REQUEST', /^body must be an object$/],
    ['no mentions field', '/link', { top_k: 2 }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body is missing the field "mentions"/],
    ['mentions not a list', '/link', { mentions: 'x' }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.mentions must be an array/],
    [
      'a mention that is a number',
      '/link',
      { mentions: ['a', 5] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[1\] must be a string or an object/,
    ],
    [
      'a mention object without text',
      '/link',
      { mentions: [{ left: 'a' }] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[0\] is missing the field "text"/,
    ],
    [
      'a context of the wrong type',
      '/link',
      { mentions: [{ text: 'a', left: 3 }] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[0\]\.left must be a string/,
    ],
    ['an unknown mention field', '/link', { mentions: [{ text: 'a', lft: 'x' }] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /unknown field "lft"/],
    ['an unknown body field', '/link', { mentions: ['a'], topk: 3 }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body has an unknown field "topk"/],
    ['top_k as a string', '/link', { mentions: ['a'], top_k: '3' }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.top_k must be an integer/],
    ['top_k not an integer', '/link', { mentions: ['a'], top_k: 2.5 }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.top_k must be an integer/],
    ['top_k of 0', '/link', { mentions: ['a'], top_k: 0 }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.top_k must be at least 1/],
    ['top_k over the limit', '/link', { mentions: ['a'], top_k: 17 }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.top_k must be at most 16/],
    ['no mentions', '/link', { mentions: [] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.mentions must not be empty/],
    ['an empty mention', '/link', { mentions: ['a', ''] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.mentions\[1\] must not be empty/],
    ['a blank mention', '/link', { mentions: ['  \t'] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.mentions\[0\] must not be blank/],
    [
      'an empty mention text',
      '/link',
      { mentions: [{ text: '' }] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[0\]\.text must not be empty/,
    ],
    [
      'too many mentions',
      '/link',
      { mentions: ['a', 'b', 'c', 'd', 'e'] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions has more than 4 items/,
    ],
    [
      'a mention too long',
      '/link',
      { mentions: ['x'.repeat(21)] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[0\] is longer than 20 characters/,
    ],
    [
      'a context too long',
      '/link',
      { mentions: [{ text: 'a', right: 'y'.repeat(51) }] },
      400,
      'ERR_BIOFEG_BAD_REQUEST',
      /body\.mentions\[0\]\.right is longer than 50/,
    ],
    [
      'a body over the limit',
      '/link',
      { mentions: ['a'], pad: 'z'.repeat(5000) },
      413,
      'ERR_BIOFEG_BODY_TOO_LARGE',
      /larger than 4096 bytes/,
    ],
    ['no texts', '/embed', { texts: [] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.texts must not be empty/],
    ['too many texts', '/embed', { texts: ['a', 'b', 'c'] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.texts has more than 2 items/],
    ['a text that is not a string', '/embed', { texts: [['a']] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.texts\[0\] must be a string/],
    ['a text too long', '/embed', { texts: ['x'.repeat(21)] }, 400, 'ERR_BIOFEG_BAD_REQUEST', /body\.texts\[0\] is longer than 20/],
  ];

  it.each(cases)('%s: %s %j -> %i', async (_name, path, body, status, code, message) => {
    const fake = new FakeLinker();
    const { url } = await start(fake, limits);
    const r = await post(`${url}${path}`, body);
    expect(r.status).toBe(status);
    expect(r.json['code']).toBe(code);
    expect(r.json['message']).toMatch(message);
    expect(fake.calls).toHaveLength(0); // refused before the Linker
  });

  it('refuses a body that is not JSON (415) and an unknown route (404)', async () => {
    const { url } = await start(new FakeLinker());
    const t = await post(`${url}/link`, 'mentions=a', { 'content-type': 'text/plain' });
    expect(t.status).toBe(415);
    expect(t.json['code']).toBe('ERR_BIOFEG_UNSUPPORTED_MEDIA_TYPE');
    const n = await fetch(`${url}/nope`);
    expect(n.status).toBe(404);
    expect(((await n.json()) as { message: string }).message).toMatch(/POST \/link/);
  });

  it("maps the Linker's input errors to 400 and anything unexpected to 500 (logged, not sent)", async () => {
    const fake = new FakeLinker();
    const lines: string[] = [];
    const { url } = await start(fake, { log: (s) => lines.push(s) });
    fake.failWith = new InputError('(request)', undefined, 'top_k exceeds the index size');
    const a = await post(`${url}/link`, { mentions: ['a'] });
    expect([a.status, a.json['code']]).toEqual([400, 'ERR_BIOFEG_BAD_REQUEST']);
    expect(a.json['message']).toMatch(/top_k exceeds the index size/);
    fake.failWith = new BiofegError('ERR_BIOFEG_INTERNAL', 'secret detail');
    const b = await post(`${url}/link`, { mentions: ['a'] });
    expect([b.status, b.json['code']]).toEqual([500, 'ERR_BIOFEG_INTERNAL']);
    expect(JSON.stringify(b.json)).not.toMatch(/secret/);
    expect(lines.join('\n')).toMatch(/POST \/link failed: .*secret detail/);
  });
});

describe('overload, abort, drain', () => {
  it('answers 503 with Retry-After when the Linker is overloaded, and serves again once it is not', async () => {
    const fake = new FakeLinker(4);
    fake.hold();
    const { url } = await start(fake);
    const held = [post(`${url}/link`, { mentions: ['a', 'b'] }), post(`${url}/link`, { mentions: ['c', 'd'] })];
    await until(() => fake.pending === 4, 'two held requests');
    const r = await post(`${url}/link`, { mentions: ['e'] });
    expect(r.status).toBe(503);
    expect(r.json['code']).toBe('ERR_BIOFEG_OVERLOADED');
    expect(r.headers.get('retry-after')).toBe('1');
    fake.release();
    expect((await Promise.all(held)).map((h) => h.status)).toEqual([200, 200]);
    expect((await post(`${url}/link`, { mentions: ['e'] })).status).toBe(200);
  });

  it('a client that goes away aborts its queued request (the Linker sees the signal)', async () => {
    const fake = new FakeLinker();
    fake.hold();
    const { url } = await start(fake);
    const ac = new AbortController();
    const gone = post(`${url}/link`, { mentions: ['a'] }, {}, ac.signal);
    const stays = post(`${url}/link`, { mentions: ['b'] });
    await until(() => fake.calls.length === 2, 'both requests at the Linker');
    expect(fake.calls[0]!.signal?.aborted).toBe(false);
    ac.abort();
    await expect(gone).rejects.toThrow();
    await until(() => fake.calls[0]!.signal?.aborted === true, "the first request's signal");
    await until(() => fake.pending === 1, 'the aborted request to leave the queue');
    expect(fake.calls[1]!.signal?.aborted).toBe(false);
    fake.release();
    expect((await stays).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/biofeg_http_requests_total\{route="\/link",method="POST",status="499"\} 1/);
  });

  it('close() lets in-flight requests finish, refuses new connections, then resolves', async () => {
    const fake = new FakeLinker();
    fake.hold();
    const { server, url, port } = await start(fake);
    const inflight = [0, 1, 2].map((i) => post(`${url}/link`, { mentions: [`m${i}`], top_k: 2 }));
    await until(() => fake.pending === 3, 'three requests in flight');
    expect(server.inFlight()).toBe(3);
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false); // still draining
    // A new connection is refused while draining.
    const refused = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/health' }, () => resolve('answered'));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.end();
    });
    expect(refused).toBe('ECONNREFUSED');
    fake.release();
    const done = await Promise.all(inflight);
    expect(done.map((d) => d.status)).toEqual([200, 200, 200]);
    expect(done.map((d) => d.json)).toEqual([0, 1, 2].map((i) => ({ results: [{ candidates: fakeCandidates(`m${i}`, 2) }] })));
    await closing;
    expect(closed).toBe(true);
  });

  it('close() stops waiting after drainTimeoutMs and closes the connections left', async () => {
    const fake = new FakeLinker();
    fake.hold();
    const lines: string[] = [];
    const { server, url } = await start(fake, { drainTimeoutMs: 200, log: (s) => lines.push(s) });
    const stuck = post(`${url}/link`, { mentions: ['a'] });
    await until(() => fake.pending === 1, 'one request in flight');
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(stuck).rejects.toThrow();
    expect(lines.join('\n')).toMatch(/drain took longer than 200 ms/);
    fake.release();
  });
});

describe('GET /health', () => {
  it('is 503 while the Linker loads (and /link says so), then 200 with its info', async () => {
    let resolve!: (l: LinkService) => void;
    const loading = new Promise<LinkService>((r) => {
      resolve = r;
    });
    const { server, url } = await start(loading);
    const h = await fetch(`${url}/health`);
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'loading' });
    const l = await post(`${url}/link`, { mentions: ['a'] });
    expect([l.status, l.json['code']]).toEqual([503, 'ERR_BIOFEG_NOT_READY']);
    resolve(new FakeLinker());
    await server.ready;
    const ok = await fetch(`${url}/health`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ready', ...FAKE_INFO });
    expect((await post(`${url}/link`, { mentions: ['a'] })).status).toBe(200);
  });

  it('is 503 with the reason when loading failed; ready rejects with it', async () => {
    const { server, url } = await start(Promise.reject(new Error('no index at /x')));
    await expect(server.ready).rejects.toThrow('no index at /x');
    const h = await fetch(`${url}/health`);
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'failed', message: 'no index at /x' });
  });
});

describe('GET /metrics', () => {
  it('writes Prometheus text: requests by route and status, latency histogram, queue gauges', async () => {
    const fake = new FakeLinker();
    const { url } = await start(fake);
    await post(`${url}/link`, { mentions: ['a', 'b', 'c'] });
    await post(`${url}/link`, { mentions: [] });
    await post(`${url}/embed`, { texts: ['a'] });
    await fetch(`${url}/nope/${'x'.repeat(5)}`);
    fake.hold();
    const held = post(`${url}/link`, { mentions: ['q', 'r'] });
    await until(() => fake.pending === 2, 'a queued request');
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await res.text();
    fake.release();
    await held;
    const line = (re: RegExp) => expect(m).toMatch(new RegExp(`^${re.source}$`, 'm'));
    line(/# TYPE biofeg_http_requests_total counter/);
    line(/biofeg_http_requests_total\{route="\/link",method="POST",status="200"\} 1/);
    line(/biofeg_http_requests_total\{route="\/link",method="POST",status="400"\} 1/);
    line(/biofeg_http_requests_total\{route="\/embed",method="POST",status="200"\} 1/);
    line(/biofeg_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
    line(/# TYPE biofeg_http_request_duration_seconds histogram/);
    line(/biofeg_http_request_duration_seconds_bucket\{route="\/link",le="\+Inf"\} 2/);
    line(/biofeg_http_request_duration_seconds_count\{route="\/link"\} 2/);
    // Accepted requests of 3 and 2 (the held one) mentions; the empty one was refused before.
    line(/biofeg_link_request_mentions_bucket\{le="1"\} 0/);
    line(/biofeg_link_request_mentions_bucket\{le="2"\} 1/);
    line(/biofeg_link_request_mentions_bucket\{le="4"\} 2/);
    line(/biofeg_linked_mentions_total 3/);
    line(/biofeg_embedded_texts_total 1/);
    line(/biofeg_http_in_flight_requests 2/); // the held /link and this scrape
    line(/biofeg_ready 1/);
    line(/biofeg_linker_queued_mentions 2/);
    line(/biofeg_linker_batches_total 7/);
    line(/biofeg_linker_last_batch_mentions 5/);
    line(/biofeg_linker_last_batch_tokens 160/);
  });

  it('records encoder batch sizes as histograms by kind, as the Linker reports its batches', async () => {
    const fake = new FakeLinker();
    const server = createServer(fake, { port: 0 });
    const { url } = await server.listen();
    await server.ready;
    const scrape = async () => (await fetch(`${url}/metrics`)).text();
    const value = (m: string, series: string): number => {
      const v = new RegExp(`^${series.replace(/[{}()[\].+*?^$|\\]/g, '\\$&')} (\\S+)$`, 'm').exec(m)?.[1];
      if (v === undefined) throw new Error(`no ${series} in:\n${m}`);
      return Number(v);
    };
    try {
      const m0 = await scrape();
      expect(m0).toMatch(/^# TYPE biofeg_linker_batch_mentions histogram$/m);
      expect(m0).toMatch(/^# TYPE biofeg_linker_batch_tokens histogram$/m);
      expect(m0).not.toMatch(/^biofeg_linker_batch_mentions_count/m); // no batch yet
      expect(fake.batchListeners.size).toBe(1);
      fake.batch({ kind: 'link', mentions: 3, tokens: 96, seconds: 0.004 });
      fake.batch({ kind: 'link', mentions: 40, tokens: 1280, seconds: 0.03 });
      fake.batch({ kind: 'embed', mentions: 1, tokens: 32, seconds: 0.002 });
      const m1 = await scrape();
      expect(value(m1, 'biofeg_linker_batch_mentions_count{kind="link"}')).toBe(2);
      expect(value(m1, 'biofeg_linker_batch_mentions_sum{kind="link"}')).toBe(43);
      expect(value(m1, 'biofeg_linker_batch_mentions_bucket{kind="link",le="2"}')).toBe(0);
      expect(value(m1, 'biofeg_linker_batch_mentions_bucket{kind="link",le="4"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_mentions_bucket{kind="link",le="32"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_mentions_bucket{kind="link",le="64"}')).toBe(2);
      expect(value(m1, 'biofeg_linker_batch_mentions_bucket{kind="link",le="+Inf"}')).toBe(2);
      expect(value(m1, 'biofeg_linker_batch_tokens_sum{kind="link"}')).toBe(1376);
      expect(value(m1, 'biofeg_linker_batch_tokens_bucket{kind="link",le="128"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_tokens_bucket{kind="link",le="1024"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_tokens_bucket{kind="link",le="2048"}')).toBe(2);
      expect(value(m1, 'biofeg_linker_batch_duration_seconds_count{kind="link"}')).toBe(2);
      expect(value(m1, 'biofeg_linker_batch_duration_seconds_bucket{kind="link",le="0.005"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_mentions_count{kind="embed"}')).toBe(1);
      expect(value(m1, 'biofeg_linker_batch_tokens_bucket{kind="embed",le="32"}')).toBe(1);
      fake.batch({ kind: 'link', mentions: 600, tokens: 40000, seconds: 7 });
      const m2 = await scrape();
      expect(value(m2, 'biofeg_linker_batch_mentions_count{kind="link"}')).toBe(3);
      expect(value(m2, 'biofeg_linker_batch_mentions_bucket{kind="link",le="512"}')).toBe(2);
      expect(value(m2, 'biofeg_linker_batch_mentions_bucket{kind="link",le="1024"}')).toBe(3);
      expect(value(m2, 'biofeg_linker_batch_tokens_bucket{kind="link",le="32768"}')).toBe(2);
      expect(value(m2, 'biofeg_linker_batch_tokens_bucket{kind="link",le="+Inf"}')).toBe(3);
    } finally {
      await server.close();
    }
    expect(fake.batchListeners.size).toBe(0); // close() unsubscribes
  });
});

describe('createServer options', () => {
  it('refuses nonsense limits at once', () => {
    expect(() => createServer(new FakeLinker(), { maxMentions: 0 })).toThrow(/maxMentions must be an integer >= 1/);
    expect(() => createServer(new FakeLinker(), { defaultTopK: 20, maxTopK: 10 })).toThrow(/defaultTopK \(20\) exceeds maxTopK/);
  });
});

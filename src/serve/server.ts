// The HTTP service over a Linker (fastify): POST /link, POST /embed, GET /health, GET /metrics.
// Requests are validated against JSON schemas before they reach the Linker; its typed errors map to
// status codes (overloaded -> 503); a client that goes away aborts its queued request; close()
// drains what is in flight. The Linker may still be loading when the server listens (health says so).
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

import Fastify, { type FastifyError, type FastifyReply } from 'fastify';

import { AbortError } from '../errors.js';
import type { LinkMention } from '../link/types.js';
import { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, Registry } from './metrics.js';
import { describeValidation, embedBodySchema, embedResponseSchema, type Limits, linkBodySchema, linkResponseSchema } from './schemas.js';
import type { LinkServer, LinkService, ServeOptions, ServerAddress } from './types.js';

/** The `code` of an HTTP error body (`{ statusCode, code, error, message }`). */
export type ServeErrorCode =
  | 'ERR_BIOFEG_BAD_REQUEST'
  | 'ERR_BIOFEG_BODY_TOO_LARGE'
  | 'ERR_BIOFEG_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_BIOFEG_NOT_FOUND'
  | 'ERR_BIOFEG_NOT_READY'
  | 'ERR_BIOFEG_OVERLOADED'
  | 'ERR_BIOFEG_CLIENT_CLOSED'
  | 'ERR_BIOFEG_INTERNAL';

/** The routes the metrics name; anything else is counted as `unmatched` (bounded label values). */
const ROUTES = new Set(['/link', '/embed', '/health', '/metrics']);

/** Not an official status: nginx's code for a request whose client went away first. */
const CLIENT_CLOSED = 499;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface LinkBody {
  mentions: LinkMention[];
  top_k?: number;
  rerank?: boolean;
}
interface EmbedBody {
  texts: string[];
}

/** A status and a stable code for the error body, from anything a hook or handler threw. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ServeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  return typeof e.code === 'string' ? e.code : undefined;
}

/**
 * An HTTP server over `linker` (or over the promise of one, so that it can listen, and answer
 * `/health` with 503, while the model and index load). Nothing listens until `listen()`.
 *
 * @example
 * ```ts
 * const linker = await Linker.load('work/model', 'work/index');
 * const server = createServer(linker, { port: 8080 }); // 127.0.0.1 unless `host` says otherwise
 * const { url } = await server.listen();
 * // ... on shutdown: in-flight requests finish first
 * await server.close();
 * await linker.close();
 * ```
 */
export function createServer(linker: LinkService | Promise<LinkService>, o: ServeOptions = {}): LinkServer {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8080;
  const bodyLimit = o.bodyLimit ?? 1024 * 1024;
  const limits: Limits = {
    maxMentions: o.maxMentions ?? 256,
    maxTexts: o.maxTexts ?? 256,
    maxTextLength: o.maxTextLength ?? 1024,
    maxContextChars: o.maxContextChars ?? 20_000,
    maxTopK: o.maxTopK ?? 100,
  };
  const defaultTopK = o.defaultTopK ?? 8;
  const drainTimeoutMs = o.drainTimeoutMs ?? 30_000;
  const log = o.log ?? (() => {});
  for (const [k, v] of Object.entries({ port, bodyLimit, defaultTopK, drainTimeoutMs, ...limits }))
    if (!Number.isInteger(v) || v < (k === 'port' || k === 'drainTimeoutMs' ? 0 : 1))
      throw new RangeError(`createServer: ${k} must be an integer >= ${k === 'port' || k === 'drainTimeoutMs' ? 0 : 1} (got ${v})`);
  if (defaultTopK > limits.maxTopK) throw new RangeError(`createServer: defaultTopK (${defaultTopK}) exceeds maxTopK (${limits.maxTopK})`);

  let service: LinkService | undefined;
  let loadError: unknown;
  let unsubscribe: (() => void) | undefined;
  const ready = Promise.resolve(linker).then(
    (s) => {
      service = s;
      unsubscribe = s.onBatch?.((b) => {
        batchMentions.observe(b.mentions, { kind: b.kind });
        batchTokens.observe(b.tokens, { kind: b.kind });
        batchSeconds.observe(b.seconds, { kind: b.kind });
      });
    },
    (e: unknown) => {
      loadError = e;
      throw e;
    },
  );
  // The caller may never await `ready` (health reports the failure); no unhandled rejection then.
  ready.catch(() => {});

  let inFlight = 0;
  let draining = false;

  const registry = new Registry();
  const requests = registry.add(new Counter('biofeg_http_requests_total', 'HTTP requests answered, by route, method and status.'));
  const latency = registry.add(
    new Histogram(
      'biofeg_http_request_duration_seconds',
      'Time from request to response, by route.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  );
  const requestMentions = registry.add(
    new Histogram(
      'biofeg_link_request_mentions',
      'Mentions per accepted POST /link request.',
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    ),
  );
  const linked = registry.add(new Counter('biofeg_linked_mentions_total', 'Mentions linked (successful POST /link).'));
  const embedded = registry.add(new Counter('biofeg_embedded_texts_total', 'Texts embedded (successful POST /embed).'));
  // Encoder batches, as the Linker reports them (LinkService.onBatch), by kind (link or embed).
  const batchMentions = registry.add(
    new Histogram(
      'biofeg_linker_batch_mentions',
      'Mentions per encoder batch (coalesced from one or more requests).',
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    ),
  );
  const batchTokens = registry.add(
    new Histogram(
      'biofeg_linker_batch_tokens',
      'Tokens (padded) per encoder batch.',
      [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
    ),
  );
  const batchSeconds = registry.add(
    new Histogram(
      'biofeg_linker_batch_duration_seconds',
      'Time per encoder batch: tokenize, encode and search.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
  );
  const stat = <K extends 'queued' | 'inFlight' | 'batches' | 'lastBatchMentions' | 'lastBatchTokens'>(k: K) =>
    service ? service.stats()[k] : 0;
  registry.add(new Gauge('biofeg_http_in_flight_requests', 'HTTP requests being answered.', () => inFlight));
  registry.add(new Gauge('biofeg_ready', '1 once the model and index are loaded.', () => (service ? 1 : 0)));
  registry.add(new Gauge('biofeg_linker_queued_mentions', "Mentions waiting in the Linker's queue.", () => stat('queued')));
  registry.add(new Gauge('biofeg_linker_in_flight_mentions', 'Mentions in the batch being encoded and searched.', () => stat('inFlight')));
  registry.add(new Gauge('biofeg_linker_batches_total', 'Encoder batches run since load.', () => stat('batches'), 'counter'));
  // Kept beside the histograms: dashboards built on them before the histograms came still read them.
  registry.add(new Gauge('biofeg_linker_last_batch_mentions', 'Mentions in the last encoder batch.', () => stat('lastBatchMentions')));
  registry.add(new Gauge('biofeg_linker_last_batch_tokens', 'Tokens (padded) in the last encoder batch.', () => stat('lastBatchTokens')));

  const app = Fastify({
    bodyLimit,
    logger: false,
    // Types are checked as sent: "8" is not an integer and 5 is not a list of mentions.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  // JSON only (no text/plain parser: a form or text body is 415, not a confusing 400).
  // JSON.parse's own message (with the position) tells a client what is wrong with its body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '')
      return done(new HttpError(400, 'ERR_BIOFEG_BAD_REQUEST', 'the request body is empty: send a JSON object'), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new HttpError(400, 'ERR_BIOFEG_BAD_REQUEST', `the request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });

  app.addHook('onRequest', (req, reply, done) => {
    const start = performance.now();
    const url = req.routeOptions.url;
    const route = url !== undefined && ROUTES.has(url) ? url : 'unmatched';
    inFlight += 1;
    reply.raw.once('close', () => {
      inFlight -= 1;
      const status = reply.raw.writableFinished ? reply.raw.statusCode : CLIENT_CLOSED;
      requests.inc({ route, method: req.method, status: String(status) });
      latency.observe((performance.now() - start) / 1000, { route });
    });
    done();
  });
  // Responses finished while draining close their keep-alive connection, so close() can end.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) void reply.header('connection', 'close');
    done(null, payload);
  });

  const send = (reply: FastifyReply, status: number, code: ServeErrorCode, message: string) =>
    reply.code(status).send({ statusCode: status, code, error: REASONS[status] ?? 'Error', message });

  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    if (err instanceof HttpError) return send(reply, err.statusCode, err.code, err.message);
    if ('validation' in err && err.validation)
      return send(reply, 400, 'ERR_BIOFEG_BAD_REQUEST', describeValidation(err.validation, 'body'));
    switch (codeOf(err)) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(
          reply,
          413,
          'ERR_BIOFEG_BODY_TOO_LARGE',
          `the request body is larger than ${bodyLimit} bytes (this server's body limit)`,
        );
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, 415, 'ERR_BIOFEG_UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON with Content-Type: application/json');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return send(reply, 400, 'ERR_BIOFEG_BAD_REQUEST', 'the Content-Length header does not match the body');
      case 'ERR_BIOFEG_OVERLOADED':
        void reply.header('retry-after', '1');
        return send(reply, 503, 'ERR_BIOFEG_OVERLOADED', err.message);
      case 'ERR_BIOFEG_ABORTED':
        return send(reply, CLIENT_CLOSED, 'ERR_BIOFEG_CLIENT_CLOSED', 'the client closed the connection');
      case 'ERR_BIOFEG_INPUT':
      case 'ERR_BIOFEG_SETTINGS':
        return send(reply, 400, 'ERR_BIOFEG_BAD_REQUEST', err.message);
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return send(reply, status, 'ERR_BIOFEG_BAD_REQUEST', err.message);
    log(`${req.method} ${req.url} failed: ${err.stack ?? err.message}`);
    return send(reply, 500, 'ERR_BIOFEG_INTERNAL', 'internal error (logged by the server)');
  });

  app.setNotFoundHandler((req, reply) =>
    send(reply, 404, 'ERR_BIOFEG_NOT_FOUND', `no route ${req.method} ${req.url}: POST /link, POST /embed, GET /health, GET /metrics`),
  );

  /** The loaded service, or a 503 while it loads (or after it failed to). */
  const loaded = (): LinkService => {
    if (service) return service;
    const why = loadError === undefined ? 'the model and index are still loading' : 'the model and index failed to load';
    throw new HttpError(503, 'ERR_BIOFEG_NOT_READY', why);
  };

  app.post<{ Body: LinkBody }>(
    '/link',
    { schema: { body: linkBodySchema(limits), response: { 200: linkResponseSchema } } },
    async (req, reply) => {
      const svc = loaded();
      const { mentions, top_k, rerank } = req.body;
      requestMentions.observe(mentions.length);
      const results = await svc.link(mentions, {
        topK: top_k ?? defaultTopK,
        ...(rerank !== undefined ? { rerank } : {}),
        signal: clientGone(reply.raw),
      });
      linked.inc({}, mentions.length);
      return { results: results.map((candidates) => ({ candidates })) };
    },
  );

  app.post<{ Body: EmbedBody }>(
    '/embed',
    { schema: { body: embedBodySchema(limits), response: { 200: embedResponseSchema } } },
    async (req, reply) => {
      const svc = loaded();
      const vectors = await svc.embed(req.body.texts, { signal: clientGone(reply.raw) });
      embedded.inc({}, vectors.length);
      return { embeddings: vectors.map((v) => Array.from(v)) };
    },
  );

  app.get('/health', async (_req, reply) => {
    if (service) return { status: 'ready', ...service.info() };
    if (loadError !== undefined) {
      const message = loadError instanceof Error ? loadError.message : String(loadError);
      return reply.code(503).send({ status: 'failed', message });
    }
    return reply.code(503).send({ status: 'loading' });
  });

  app.get('/metrics', async (_req, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(registry.text()));

  let address: ServerAddress | undefined;
  let closing: Promise<void> | undefined;
  return {
    ready,
    inFlight: () => inFlight,
    async listen() {
      if (address) return address;
      await app.listen({ host, port });
      const a = app.server.address() as AddressInfo | string | null;
      if (a === null || typeof a === 'string') throw new Error(`listen: unexpected address ${String(a)}`);
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      address = { host: a.address, port: a.port, url: `http://${h}:${a.port}` };
      log(`listening on ${address.url}`);
      return address;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        if (inFlight > 0) log(`draining ${inFlight} in-flight request(s)`);
        const timer = setTimeout(() => {
          log(`drain took longer than ${drainTimeoutMs} ms: closing the remaining connections`);
          app.server.closeAllConnections();
        }, drainTimeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          unsubscribe?.();
        }
        log('closed');
      })();
      return closing;
    },
  };
}

/** Aborted when the client's connection closes before the response is written. */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new AbortError('the client closed the connection'));
  });
  return ac.signal;
}

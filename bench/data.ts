// Data pipeline bench: generates a synthetic arboEL-layout input, then measures `prepare`
// (streaming, single thread) and BLINK tokenisation into token caches with 0 workers (main
// thread) vs 2 worker threads, each phase in its own child process so peak RSS
// (process.resourceUsage().maxRSS) is per phase. Each 1-thread vs 2-worker pair runs back to
// back, with os.loadavg() recorded before and after every phase (other jobs sharing the cores
// make rates noisy; the load says how much). Writes bench/results/data-<host>.json.
//
//   node --import tsx bench/data.ts [--mentions 200000] [--entities 300000] [--mentions-per-doc 10]
//        [--doc-words 150] [--max-context-length 128] [--max-cand-length 128] [--vocab FILE] [--keep]
//        [--out FILE]   (default bench/results/data-<host>.json)
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 as rng } from '../src/models/rng.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const settings = {
  mentions: Number(flag('mentions', '200000')),
  entities: Number(flag('entities', '300000')),
  mentionsPerDoc: Number(flag('mentions-per-doc', '10')),
  docWords: Number(flag('doc-words', '150')),
  maxContextLength: Number(flag('max-context-length', '128')),
  maxCandLength: Number(flag('max-cand-length', '128')),
  vocab: flag(
    'vocab',
    existsSync(join(root, '..', 'shared/data/vocab/bert-base-uncased-vocab.txt'))
      ? join(root, '..', 'shared/data/vocab/bert-base-uncased-vocab.txt')
      : join(root, 'data/default/vocab.txt'),
  ),
};

// --- generation -----------------------------------------------------------------------------
const LEX = (
  'acute chronic severe mild familial congenital hereditary primary secondary idiopathic ' +
  'disease syndrome disorder deficiency carcinoma tumour neoplasm infection inflammation fever ' +
  'cardiac renal hepatic pulmonary neural muscular vascular ocular dermal gastric ' +
  'patients cohort study trial therapy dose response treatment outcome risk ' +
  'the of and with in was were after before during showed reduced increased observed ' +
  'protein gene receptor kinase enzyme antibody cytokine hormone channel transporter ' +
  'insulin aspirin heparin warfarin metformin statin cisplatin ibuprofen lithium morphine ' +
  'hypertension asthma diabetes epilepsy anaemia leukaemia lymphoma arthritis nephritis hepatitis'
).split(' ');

class Out {
  private fd: number;
  private parts: string[] = [];
  private n = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  line(s: string): void {
    this.parts.push(s, '\n');
    this.n += s.length;
    if (this.n > 1 << 22) this.flush();
  }
  flush(): void {
    writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.n = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function generate(dir: string): void {
  const r = rng(42);
  const word = () => LEX[Math.floor(r() * LEX.length)]!;
  const words = (n: number) => Array.from({ length: n }, word).join(' ');
  mkdirSync(join(dir, 'documents'), { recursive: true });
  mkdirSync(join(dir, 'mentions'), { recursive: true });
  const ents = new Out(join(dir, 'documents', 'all_documents.json'));
  for (let i = 0; i < settings.entities; i++) {
    ents.line(JSON.stringify({ document_id: `E${i}`, title: words(2 + (i % 3)), text: words(25 + (i % 20)) }));
  }
  ents.close();
  const splitOf = (k: number) => (k % 10 < 8 ? 'train' : k % 10 === 8 ? 'val' : 'test');
  const docs = {
    train: new Out(join(dir, 'documents', 'train.json')),
    val: new Out(join(dir, 'documents', 'val.json')),
    test: new Out(join(dir, 'documents', 'test.json')),
  };
  const ments = {
    train: new Out(join(dir, 'mentions', 'train.json')),
    val: new Out(join(dir, 'mentions', 'val.json')),
    test: new Out(join(dir, 'mentions', 'test.json')),
  };
  const nDocs = Math.ceil(settings.mentions / settings.mentionsPerDoc);
  let m = 0;
  for (let d = 0; d < nDocs; d++) {
    const split = splitOf(d);
    const toks = Array.from({ length: settings.docWords }, word);
    docs[split].line(JSON.stringify({ document_id: `P${d}`, title: toks.slice(0, 8).join(' '), text: toks.join(' ') }));
    for (let k = 0; k < settings.mentionsPerDoc && m < settings.mentions; k++, m++) {
      const s = Math.floor(r() * (toks.length - 3));
      const e = s + Math.floor(r() * 3);
      ments[split].line(
        JSON.stringify({
          mention_id: `M${m}`,
          context_document_id: `P${d}`,
          label_document_id: `E${Math.floor(r() * settings.entities)}`,
          start_index: s,
          end_index: e,
          text: toks.slice(s, e + 1).join(' '),
          category: 'T047',
        }),
      );
    }
  }
  for (const o of [...Object.values(docs), ...Object.values(ments)]) o.close();
}

// --- phases (each in a child process) ---------------------------------------------------------
async function phase(name: string, dir: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let extra: Record<string, unknown> = {};
  if (name === 'prepare') {
    const { prepare } = await import('../src/data/prepare.js');
    const r = await prepare({ dataDir: dir });
    extra = { mentions: r.splits.train.mentions + r.splits.val.mentions + r.splits.test.mentions };
  } else {
    const [kind, w] = name.split(':') as ['mentions' | 'entities', string];
    const { fromVocab } = await import('../src/tokenize/index.js');
    const { buildTokenCache } = await import('../src/data/cache-build.js');
    const tokModule = join(root, 'src/tokenize/index.ts');
    const tok = fromVocab(settings.vocab, { lowercase: true });
    const source = kind === 'mentions' ? join(dir, 'processed', 'train.jsonl') : join(dir, 'documents', 'all_documents.json');
    const h = await buildTokenCache({
      kind,
      source,
      cachePath: join(dir, 'processed', `${kind}-${w}.tokens`),
      tokenizer: tok,
      factory: { module: tokModule, export: 'fromVocab', args: [settings.vocab, { lowercase: true }] },
      workers: Number(w),
      maxContextLength: settings.maxContextLength,
      maxCandLength: settings.maxCandLength,
    });
    extra = { rows: h.rows, overflows: h.overflows };
  }
  const seconds = (performance.now() - t0) / 1000;
  return { phase: name, seconds: Number(seconds.toFixed(2)), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ...extra };
}

async function main(): Promise<void> {
  const child = process.argv.indexOf('--phase');
  if (child >= 0) {
    const r = await phase(process.argv[child + 1]!, process.argv[child + 2]!);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const cpus = os.cpus();
  const machine = {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
  console.log('machine', JSON.stringify(machine));
  console.log('settings', JSON.stringify(settings));
  const dir = mkdtempSync(join(os.tmpdir(), 'biofeg-bench-data-'));
  try {
    let t = performance.now();
    generate(dir);
    const genSeconds = (performance.now() - t) / 1000;
    console.log(`generated in ${genSeconds.toFixed(1)} s: ${dir}`);
    const results: Record<string, unknown>[] = [];
    for (const p of ['prepare', 'mentions:0', 'mentions:2', 'entities:0', 'entities:2']) {
      t = performance.now();
      const loadBefore = os.loadavg().map((x) => Number(x.toFixed(2)));
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2), '--phase', p, dir],
        { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      const r = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
      const rows = (r.rows ?? r.mentions) as number;
      r.perSecond = Math.round(rows / (r.seconds as number));
      r.loadavgBefore = loadBefore;
      r.loadavgAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
      results.push(r);
      console.log(JSON.stringify(r));
    }
    const get = (p: string) => results.find((r) => r.phase === p)!;
    const ratio = (k: string) => Number(((get(`${k}:2`).perSecond as number) / (get(`${k}:0`).perSecond as number)).toFixed(2));
    const summary = {
      prepareMentionsPerSec: get('prepare').perSecond,
      tokenizeMentionsPerSec: {
        singleThread: get('mentions:0').perSecond,
        twoWorkers: get('mentions:2').perSecond,
        speedup: ratio('mentions'),
      },
      tokenizeEntitiesPerSec: {
        singleThread: get('entities:0').perSecond,
        twoWorkers: get('entities:2').perSecond,
        speedup: ratio('entities'),
      },
      peakRssMiB: Math.max(...results.map((r) => r.peakRssMiB as number)),
    };
    console.log('summary', JSON.stringify(summary));
    for (const k of ['mentions', 'entities']) {
      console.log(`${k}/s: ${get(`${k}:0`).perSecond} single thread, ${get(`${k}:2`).perSecond} with 2 workers (x${ratio(k)})`);
    }
    const file = flag('out', join(here, 'results', `data-${os.hostname()}.json`));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file + '.tmp',
      JSON.stringify({ machine, settings, generateSeconds: Number(genSeconds.toFixed(1)), results, summary }, null, 2) + '\n',
    );
    renameSync(file + '.tmp', file);
    console.log(`wrote ${file}`);
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}

await main();

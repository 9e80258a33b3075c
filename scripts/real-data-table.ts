// Prints the README table of the real-data study (scripts/real-data.sh):
//   npx tsx scripts/real-data-table.ts [runs/real-data]
// per corpus and stage, recall@1/@8/@64 on test, seen and unseen, mean ± sample std over seeds.
import { formatStudy, readStudy } from '../src/report/study-table.js';

const root = process.argv[2] ?? 'runs/real-data';
try {
  process.stdout.write(`${formatStudy(readStudy(root))}\n`);
} catch (e) {
  process.stderr.write(`real-data-table: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

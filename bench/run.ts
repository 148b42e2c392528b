// `npm run bench`: runs every benchmark in its own process (clean RSS and JIT state) and stops at the first miss.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const all = ['versions.ts', 'patterns.ts', 'webhook.ts', 'watcher.ts', 'push.ts'];
const wanted = process.argv.slice(2);
const selected = wanted.length > 0 ? all.filter((b) => wanted.some((w) => b.startsWith(w))) : all;

let failed = 0;
for (const file of selected) {
  const full = path.join(here, file);
  if (!existsSync(full)) {
    console.log(`# ${file}: missing`);
    failed++;
    continue;
  }
  console.log(`\n# ${file}`);
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', path.join(here, 'register.js'), full], {
    stdio: 'inherit',
  });
  if (res.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);

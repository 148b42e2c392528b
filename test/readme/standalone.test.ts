// The repository stands alone: no tracked file points at a machine path, at a file outside the
// repository or at the issue tracker of the team that wrote it (a reader of a clone has none).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What points outside; `../shared/x.ts` imports are the repository's own shared/ folder. */
const OUTSIDE_POINTERS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'a file next to the repository', pattern: /\.\.\/shared\/(?![\w./-]*\.ts\b)/ },
  { name: 'a machine path', pattern: /\/work\// },
  { name: 'an issue number', pattern: /\bissues?\s+#?\d+\b/i },
];

function findOutsidePointers(text: string): { line: number; name: string; text: string }[] {
  const hits: { line: number; name: string; text: string }[] = [];
  text.split('\n').forEach((line, i) => {
    for (const p of OUTSIDE_POINTERS)
      if (p.pattern.test(line)) hits.push({ line: i + 1, name: p.name, text: line.trim() });
  });
  return hits;
}

t.test('the patterns catch what they are for and spare the imports of shared/', (t) => {
  const cases = [
    { name: 'contract next to the repo', input: 'see `../shared/CONTRACT.md`', want: 1 },
    { name: 'style file on the machine', input: 'see also `/work/shared/STYLE.md`', want: 1 },
    { name: 'issue reference', input: 'figures in the report of issue 6', want: 1 },
    { name: 'issue with a hash', input: 'as in Issue #12', want: 1 },
    { name: 'import of shared', input: "import { x } from '../shared/version.ts';", want: 0 },
    { name: 'import two levels up', input: "from '../../shared/errors.ts'", want: 0 },
    { name: 'the word issues', input: 'known issues with Docker Hub', want: 0 },
  ];
  for (const c of cases) t.equal(findOutsidePointers(c.input).length, c.want, c.name);
  t.end();
});

t.test('no tracked file points outside the repository', (t) => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && f !== 'package-lock.json' && !/\.(png|jpe?g|gif|ico)$/.test(f));
  t.ok(files.length > 100, `git ls-files lists the repository (${files.length} files)`);
  const self = 'test/readme/standalone.test.ts';
  const found: string[] = [];
  for (const file of files) {
    if (file === self) continue;
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree but still tracked
    }
    for (const hit of findOutsidePointers(text)) found.push(`${file}:${hit.line}: ${hit.name}: ${hit.text}`);
  }
  t.same(found, [], 'pointers outside the repository');
  t.end();
});

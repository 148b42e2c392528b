// The README cannot rot: every ```sh block of its Quickstart and Try it sections runs here, in
// order, in one scratch state, and its output must equal the ```text block that follows it.
// What differs from a user's machine is substituted, and substituted back in the output: free
// ports for 5000/8443/8080/8081, scratch folders for .demo/ and scripts/demo/ (whose manifests name
// the registry port), a HOME whose ~/.kube/config points at the fake API server of test/support.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { startFakeKube } from '../support/fake-kube/index.ts';
import { freePort } from '../support/registry.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
t.setTimeout(600_000);

export interface ReadmeBlock {
  section: string;
  command: string;
  /** The ```text block right after it, if any. */
  expected: string | undefined;
}

/** The ```sh blocks between `## Quickstart` and the next section after `## Try it`. */
export function runnableBlocks(readme: string): ReadmeBlock[] {
  const start = readme.indexOf('\n## Quickstart\n');
  const tryIt = readme.indexOf('\n## Try it\n');
  if (start < 0 || tryIt < 0) throw new Error('README has no "## Quickstart" or "## Try it" section');
  const next = readme.indexOf('\n## ', tryIt + 1);
  const text = readme.slice(start, next < 0 ? undefined : next);
  const fences = [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    at: m.index,
  }));
  const blocks: ReadmeBlock[] = [];
  fences.forEach((f, i) => {
    if (f.lang !== 'sh') return;
    const after = fences[i + 1];
    const heading = [...text.slice(0, f.at).matchAll(/^#{2,3} (.*)$/gm)].pop()?.[1] ?? '';
    blocks.push({
      section: heading,
      command: f.body,
      expected: after?.lang === 'text' ? after.body : undefined,
    });
  });
  return blocks;
}

export function normalise(output: string): string {
  return stripVTControlCharacters(output)
    .split('\n')
    .map((l) => l.replace(/[ \t]+/g, ' ').trimEnd())
    .join('\n')
    .trim();
}

function runBlock(command: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // stderr into stdout, in order, as a terminal shows them.
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', `exec 2>&1\n${command}`], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

t.test('runnableBlocks pairs each sh block with the text block after it', (t) => {
  const readme = [
    '# x',
    '## Quickstart',
    '```bash',
    'not run',
    '```',
    '### (b)',
    '```sh',
    'echo hi',
    '```',
    'prose',
    '```text',
    'hi',
    '```',
    '## Try it',
    '```sh',
    'true',
    '```',
    '## Later',
    '```sh',
    'echo never',
    '```',
    '',
  ].join('\n');
  t.same(runnableBlocks(readme), [
    { section: '(b)', command: 'echo hi\n', expected: 'hi\n' },
    { section: 'Try it', command: 'true\n', expected: undefined },
  ]);
  t.equal(normalise('a  \t b   \n\x1b[1mc\x1b[0m  \n\n'), 'a b\nc');
  t.end();
});

t.test('the README quickstart and Try it, command by command', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const blocks = runnableBlocks(readme);
  t.ok(blocks.length >= 8, `${blocks.length} runnable blocks`);

  const scratch = await mkdtemp(join(tmpdir(), 'iw-readme-'));
  const state = join(scratch, 'demo-state');
  const demo = join(scratch, 'demo-files');
  const home = join(scratch, 'home');
  await mkdir(state);
  await mkdir(join(home, '.kube'), { recursive: true });
  t.teardown(async () => {
    // End only what the README started: the PIDs it wrote into its state folder.
    for (const f of await readdir(state).catch(() => [] as string[])) {
      if (!f.endsWith('.pid')) continue;
      const pid = Number(await readFile(join(state, f), 'utf8'));
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await rm(scratch, { recursive: true, force: true });
  });

  const ports: Record<string, number> = {};
  for (const p of ['5000', '8443', '8080', '8081']) ports[p] = await freePort();
  const registry = `127.0.0.1:${ports['5000']}`;
  const localise = (text: string): string => text.replaceAll('127.0.0.1:5000', registry);
  await cp(join(ROOT, 'scripts', 'demo'), demo, { recursive: true });
  for (const f of await readdir(demo)) {
    await writeFile(join(demo, f), localise(await readFile(join(demo, f), 'utf8')));
  }

  // The "cluster of your kubeconfig": the fake API server, holding scripts/demo/web.yaml.
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const docs = parseAllDocuments(await readFile(join(demo, 'web.yaml'), 'utf8'));
  kube.seed(...(Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as object));
  await writeFile(join(home, '.kube', 'config'), kube.kubeConfig().exportConfig());

  const toLocal = (command: string): string =>
    command
      .replace(/(?<=[:=])(5000|8443|8080|8081)\b/g, (p) => String(ports[p]))
      .replaceAll('scripts/demo/', `${demo}/`)
      .replaceAll('.demo/', `${state}/`);
  const toReadme = (output: string): string =>
    output
      .replaceAll(registry, '127.0.0.1:5000')
      .replaceAll(`${demo}/`, 'scripts/demo/')
      .replaceAll(`${state}/`, '.demo/');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    LANG: 'C.UTF-8',
    DEMO_DIR: state,
    // The commands run the esbuild bundles (no source map): coverage of them would count the
    // bundled libraries, not our sources. tap's processinfo skips processes with this set to 0.
    _TAPJS_PROCESSINFO_COVERAGE_: '0',
  };

  for (const [i, block] of blocks.entries()) {
    const name = `${block.section} #${i + 1}: ${block.command.split('\n')[0]}`;
    const { code, out } = await runBlock(toLocal(block.command), env);
    t.equal(code, 0, `${name}: exit 0\n${out}`);
    if (block.expected !== undefined) {
      t.equal(normalise(toReadme(out)), normalise(block.expected), `${name}: the output shown`);
    }
    if (code !== 0) break; // later blocks build on this one
  }
});

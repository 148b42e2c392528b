// Piped `npm test` output is a short result, and still carries the summary line .ci/run parses.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runPiped(env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'sh',
      ['scripts/test.sh', '--disable-coverage', '--reporter=terse', 'test/readme/fixtures/three-asserts.ts'],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

t.test('piped, the terse reporter prints its final frame only', async (t) => {
  const env = { ...process.env };
  delete env.CI;
  delete env.TAP; // run as a top-level tap, not as a child of this one
  for (const key of Object.keys(env)) if (key.startsWith('TAP_') || key.startsWith('_TAPJS')) delete env[key];
  const { code, out } = await runPiped(env);
  t.equal(code, 0, out);
  const plain = stripVTControlCharacters(out);
  t.match(plain, /^# \{ total: 3, pass: 3 \}$/m, 'the summary line .ci/run parses');
  t.equal((plain.match(/Asserts:/g) ?? []).length, 1, 'one progress block, not one per change');
  t.ok(plain.split('\n').length < 15, `a short result (${plain.split('\n').length} lines)`);
});

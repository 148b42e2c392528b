// The security review's first finding: patterns the old checker never returned on. The CLI runs
// in-process through its `run` (a hang fails this file at tap's timeout); one real process remains.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../../../watcher/cli/run.ts';
import { cliProcess } from '../../support/process.ts';

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string>): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    env,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    version: '0.1.0',
  });
  return { code, stdout, stderr };
}

/** The real `image-watcher` process. */
const processRun = (args: string[], env: Record<string, string>): Promise<Exit> =>
  cliProcess(args, { env: { ...process.env, ...env } });

t.test(
  'check --include/--exclude with a pattern RE2 cannot express exits 2 with one clear line',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'iw-pattern-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const env = { DOCKER_CONFIG: dir };
    const cases = [
      {
        args: ['--include', '\\k<'],
        want: /^image-watcher: --include: pattern "\\\\k<" is not allowed: backreferences/,
      },
      {
        args: ['--exclude', '\\u{'],
        want: /^image-watcher: --exclude: pattern "\\\\u\{" is not allowed: the escape \\u/,
      },
      {
        args: ['--include', 'a\\u{1'],
        want: /^image-watcher: --include: pattern "a\\\\u\{1" is not allowed/,
      },
    ];
    const results = await Promise.all(
      cases.map((c) => cli(['check', 'reg.invalid/app:1.0.0', ...c.args], env)),
    );
    results.forEach((r, i) => {
      const c = cases[i]!;
      t.equal(r.code, 2, `${c.args.join(' ')}: exit 2`);
      const lines = r.stderr.split('\n');
      t.match(lines[0], c.want, c.args.join(' '));
      t.match(lines[0], /RE2 syntax .*https:\/\/github\.com\/google\/re2\/wiki\/Syntax/);
      t.same(lines.slice(1), ["Run 'image-watcher --help' for usage.", ''], 'then only the usage hint');
      t.equal(r.stdout, '');
    });
  },
);

t.test('scan reports such an annotation as the workload error and the process exits', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iw-pattern-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'deploy.yaml');
  await writeFile(
    file,
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hostile\n  annotations:\n    image-watcher/include: '\\k<'\n` +
      `spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: reg.invalid/app:1.0.0\n`,
  );
  const r = await processRun(['scan', file], { DOCKER_CONFIG: dir });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stdout, /hostile .*image-watcher\/include: "\\\\k<" is not allowed: backreferences/);
});

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import t from 'tap';
import { findProgram } from '../support/programs.ts';

t.test('findProgram: env variable, then PATH, then the Debian path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iw-programs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const exe = join(dir, 'docker-registry');
  await writeFile(exe, '#!/bin/sh\n');
  await chmod(exe, 0o755);
  const notExe = join(dir, 'promtool');
  await writeFile(notExe, 'not a program');
  const env = { PATH: ['/nonexistent', dir].join(delimiter) };

  t.equal(findProgram('docker-registry', { env }), exe, 'found on PATH');
  t.equal(
    findProgram('docker-registry', { env: { ...env, REGISTRY_BIN: '/opt/r' }, envVar: 'REGISTRY_BIN' }),
    '/opt/r',
    'the env variable wins',
  );
  t.equal(findProgram('promtool', { env }), '/usr/bin/promtool', 'a file that is not executable is skipped');
  t.equal(findProgram('nope', { env: {}, fallback: '/usr/sbin/nope' }), '/usr/sbin/nope', 'fallback');
  t.equal(
    findProgram('docker-registry', { env: { ...env, REGISTRY_BIN: '' }, envVar: 'REGISTRY_BIN' }),
    exe,
    'an empty env variable counts as unset',
  );
});

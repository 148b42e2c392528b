// A container user without a passwd entry and without HOME (uid 10001 in the images): there
// os.homedir() throws (uv_os_homedir ENOENT), and loading the configuration must not.
// test/images runs the same case in the real image.
import t from 'tap';
import type * as Config from '../../shared/config.ts';

t.test('loadConfig falls back to / when os.homedir() throws and HOME is unset', async (t) => {
  let calls = 0;
  const { loadConfig } = await t.mockImport<typeof Config>('../../shared/config.ts', {
    'node:os': {
      homedir: () => {
        calls += 1;
        throw Object.assign(new Error('uv_os_homedir returned ENOENT (no such file or directory)'), {
          code: 'ERR_SYSTEM_ERROR',
        });
      },
    },
  });
  t.equal(loadConfig({}).dockerConfigDir, '/.docker');
  t.equal(calls, 1, 'asked the OS once');
  t.equal(loadConfig({ HOME: '/home/w' }).dockerConfigDir, '/home/w/.docker', 'HOME wins');
  t.equal(loadConfig({ DOCKER_CONFIG: '/cfg' }).dockerConfigDir, '/cfg', 'DOCKER_CONFIG wins');
  t.equal(calls, 1, 'HOME and DOCKER_CONFIG need no OS call');
});

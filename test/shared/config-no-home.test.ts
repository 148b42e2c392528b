// A container user without a passwd entry and without HOME (uid 10001 in the images): os.homedir()
// throws there, and loading the configuration must not.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CONFIG = fileURLToPath(new URL('../../shared/config.ts', import.meta.url));

const skip = process.getuid?.() === 0 ? false : 'needs root to start a process as uid 10001';

t.test('loadConfig works for a uid without passwd entry and without HOME', { skip }, async (t) => {
  const code = `
    import os from 'node:os';
    let threw = false;
    try { os.homedir(); } catch { threw = true; }
    const { loadConfig } = await import(${JSON.stringify(CONFIG)});
    console.log(JSON.stringify({ threw, dir: loadConfig(process.env).dockerConfigDir }));`;
  const env = { ...process.env };
  delete env.HOME;
  delete env.DOCKER_CONFIG;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], {
    uid: 10001,
    gid: 10001,
    env,
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(status, 0, err);
  t.same(
    JSON.parse(out || 'null'),
    { threw: true, dir: '/.docker' },
    'homedir() throws and config falls back to /',
  );
});

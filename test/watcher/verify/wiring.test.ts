// VERIFY_KEYS_FILE and VERIFY_TRUSTED_ROOT are read at start: a bad file stops the process with
// a message naming the variable; the gate applies only where verification is on.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import t from 'tap';
import { parseWatchSettings } from '../../../shared/annotations.ts';
import { ConfigError } from '../../../shared/env.ts';
import { OciRegistryClient } from '../../../watcher/registry/client.ts';
import { signatureGateFromSettings } from '../../../watcher/verify/wiring.ts';
import { createTestSigstore, keyPair, publicPem } from '../../support/signing.ts';

const dir = await mkdtemp(join(tmpdir(), 'iw-verify-wiring-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function gate(settings: {
  verifySignatures?: 'none' | 'cosign';
  verifyKeysFile?: string;
  verifyTrustedRoot?: string;
}) {
  return signatureGateFromSettings({
    settings: {
      verifySignatures: settings.verifySignatures ?? 'none',
      verifyKeysFile: settings.verifyKeysFile,
      verifyTrustedRoot: settings.verifyTrustedRoot,
    },
    registry: new OciRegistryClient(),
    kubeConfig: new KubeConfig(),
    readObject: () => Promise.resolve(undefined),
    now: () => 0,
    metrics: { observeSignatureCheck: () => undefined },
    logger: pino({ level: 'silent' }),
  });
}

const settingsOf = (a: Record<string, string>) => {
  const r = parseWatchSettings(a);
  if (!r.ok) throw new Error('bad test annotations');
  return r.settings;
};

t.test('bad files are ConfigErrors naming the variable', async (t) => {
  await writeFile(join(dir, 'empty.pem'), 'no keys here\n');
  await writeFile(join(dir, 'root.json'), '{"mediaType": "x"}');
  await writeFile(join(dir, 'garbage.json'), 'not json');
  const table = [
    {
      name: 'a missing key file',
      input: { verifyKeysFile: join(dir, 'nope.pem') },
      want: /VERIFY_KEYS_FILE: cannot read .*nope\.pem \(ENOENT\)/,
    },
    {
      name: 'a key file without keys',
      input: { verifyKeysFile: join(dir, 'empty.pem') },
      want: /^VERIFY_KEYS_FILE holds no PEM public key$/,
    },
    {
      name: 'a trusted root that is not JSON',
      input: { verifyTrustedRoot: join(dir, 'garbage.json') },
      want: /VERIFY_TRUSTED_ROOT: .* is not JSON/,
    },
    {
      name: 'a trusted root naming nothing',
      input: { verifyTrustedRoot: join(dir, 'root.json') },
      want: /VERIFY_TRUSTED_ROOT: .* names no certificate authority/,
    },
  ];
  for (const row of table) {
    const err = await gate(row.input).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof ConfigError, row.name);
    t.match((err as Error).message, row.want, row.name);
  }
});

t.test('good files load; the gate applies by annotation or cluster default', async (t) => {
  await writeFile(join(dir, 'keys.pem'), publicPem(keyPair('ec').publicKey));
  await writeFile(join(dir, 'trusted.json'), JSON.stringify((await createTestSigstore()).trustedRoot));
  const off = await gate({
    verifyKeysFile: join(dir, 'keys.pem'),
    verifyTrustedRoot: join(dir, 'trusted.json'),
  });
  t.notOk(off.applies(settingsOf({})), 'VERIFY_SIGNATURES=none: off without the annotation');
  t.ok(off.applies(settingsOf({ 'image-watcher/verify': 'cosign' })), 'on by annotation');
  const on = await gate({ verifySignatures: 'cosign' });
  t.ok(on.applies(settingsOf({})), 'VERIFY_SIGNATURES=cosign: on for every workload');
  const k1 = on.key({
    namespace: 'shop',
    settings: settingsOf({ 'image-watcher/verify-key': 'a' }),
  } as Parameters<typeof on.key>[0]);
  const k2 = on.key({
    namespace: 'shop',
    settings: settingsOf({ 'image-watcher/verify-key': 'b' }),
  } as Parameters<typeof on.key>[0]);
  t.not(k1, k2, 'answers under another key source are not reused');
});

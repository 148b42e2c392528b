// The signature annotations through the real HTTPS webhook: good values are admitted, bad ones
// denied with the key, the value and the reason.
import t from 'tap';
import { fixture, post, startTestWebhook } from './helpers.ts';
import type { Loose } from './helpers.ts';

function review(annotations: Record<string, string>): Loose {
  const r = fixture('deployment-create.json');
  r.request.object.metadata.annotations = { ...r.request.object.metadata.annotations, ...annotations };
  return r;
}

t.test('valid signature annotations are admitted', async (t) => {
  const hook = await startTestWebhook(t);
  const res = await post(
    hook.url,
    hook.ca,
    review({
      'image-watcher/verify': 'cosign',
      'image-watcher/verify-key': 'configmap/release-keys',
      'image-watcher/verify-identity': 'issuer=https://accounts\\.google\\.com subject=.*@acme\\.com',
    }),
  );
  t.equal(res.json.response.allowed, true);
});

t.test('bad signature annotations are denied, every problem in one message', async (t) => {
  const hook = await startTestWebhook(t);
  const res = await post(
    hook.url,
    hook.ca,
    review({
      'image-watcher/verify': 'gpg',
      'image-watcher/verify-key': 'deployment/x',
      'image-watcher/verify-identity': 'issuer=(?=x) subject=y',
    }),
  );
  t.equal(res.json.response.allowed, false);
  const msg = res.json.response.status.message as string;
  t.match(msg, /image-watcher\/verify: "gpg" is not a valid signature check; allowed: cosign/);
  t.match(msg, /image-watcher\/verify-key: "deployment\/x" is not secret\/NAME or configmap\/NAME/);
  t.match(msg, /image-watcher\/verify-identity: .* is not allowed/);
});

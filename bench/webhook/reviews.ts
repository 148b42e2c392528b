// Realistic AdmissionReview bodies of a given size: a Deployment CREATE as `kubectl apply` sends
// it (defaults filled in, managedFields, the last-applied-configuration copy), padded with the
// env vars and sidecars that make real manifests large.
import { readFileSync } from 'node:fs';

const FIXTURE = new URL('../../test/fixtures/admission/deployment-create.json', import.meta.url);

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value: string }[];
}

function envVars(prefix: string, n: number): { name: string; value: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}_SETTING_${i}`,
    value: `https://service-${i}.internal.example.com:8443/api/v2/resource?tenant=acme&region=eu-west-1&index=${i}`,
  }));
}

/** A CREATE review of about `bytes` bytes (within a few hundred). */
export function reviewOfSize(bytes: number, uid = 'c1b6a3d2-0b7e-4c47-9a5b-1f2e3d4c5b6a'): string {
  const review = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
    request: {
      uid: string;
      object: Record<string, unknown> & { metadata: { annotations: Record<string, string> } };
    };
  };
  review.request.uid = uid;
  const object = review.request.object;
  const spec = (
    object as unknown as {
      spec: { template: { spec: { containers: Container[]; initContainers?: Container[] } } };
    }
  ).spec.template.spec;
  spec.containers.push(
    {
      name: 'proxy',
      image: 'envoyproxy/envoy:v1.30.1',
      args: ['--config-path', '/etc/envoy/envoy.yaml'],
      env: [],
    },
    { name: 'metrics', image: 'quay.io/prometheus/statsd-exporter:v0.26.1', env: [] },
  );
  spec.initContainers = [{ name: 'migrate', image: 'ghcr.io/acme/web-migrate:1.4.2', env: [] }];
  const containers = [...spec.containers, ...spec.initContainers];
  let i = 0;
  const size = (): number => JSON.stringify(review).length;
  const lastApplied = (): void => {
    // kubectl apply keeps a copy of the manifest in this annotation: about half of a real body.
    const { status: _status, ...manifest } = object;
    object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] = '';
    object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] =
      JSON.stringify(manifest);
  };
  while (size() < bytes) {
    const c = containers[i % containers.length]!;
    c.env = [...(c.env ?? []), ...envVars(c.name.toUpperCase(), 5)];
    i++;
    lastApplied();
  }
  return JSON.stringify(review);
}

// The reference: a bare fastify HTTPS route that parses the body and returns a fixed
// AdmissionReview. Prints `{"port":N}` when listening. Certificate from CERT_FILE/KEY_FILE.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const app = Fastify({
  bodyLimit: 7 * 1024 * 1024,
  https: { cert: readFileSync(process.env.CERT_FILE!), key: readFileSync(process.env.KEY_FILE!) },
});
const fixed = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: 'c1b6a3d2-0b7e-4c47-9a5b-1f2e3d4c5b6a', allowed: true },
};
app.post('/mutate', () => fixed);
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: (app.server.address() as { port: number }).port }));
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));

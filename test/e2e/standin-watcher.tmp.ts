// Development stand-in for watcher/main.ts: serves realistic watcher metrics.
import { createServer } from 'node:http';
import { WatcherMetrics } from '../../watcher/metrics.ts';
const m = new WatcherMetrics();
const w = { namespace: 'shop', kind: 'Deployment', workload: 'web' };
const tick = () => {
  m.setImageStatus(w, { container: 'app', image: '127.0.0.1:5000/e2e/app:1.0.0', currentVersion: '1.0.0', latestVersion: '1.2.0', outdated: true });
  m.observeUpdate({ namespace: 'shop', kind: 'Deployment', workload: 'api' }, 'success' as never);
  m.observeNotification({ channel: 'webhook', result: 'success' });
  m.observeRegistryRequest({ registry: '127.0.0.1:5000', method: 'GET', code: '200', seconds: 0.01 });
  m.observeCheck({ seconds: 0.2, finishedAt: new Date() });
  m.setWorkloadCounts({ NOTIFICATION: 1, AUTO_UPDATE: 1 });
};
tick();
setInterval(tick, 1000);
createServer((req, res) => {
  if (req.url === '/metrics') m.render().then((r) => res.writeHead(200, { 'content-type': r.contentType }).end(r.body), () => res.writeHead(500).end());
  else res.writeHead(200).end('ok');
}).listen(Number(process.env.HTTP_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));

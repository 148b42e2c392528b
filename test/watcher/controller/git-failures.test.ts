// The record of failed Git writes: skipped in the pass that failed, bounded to the newest pass.
import t from 'tap';
import { GitFailures } from '../../../watcher/controller/state.ts';

t.test('a failure is skipped in its pass and tried again in the next', (t) => {
  const f = new GitFailures();
  f.record(3, 'Deployment/shop/web|app=1.0.1');
  t.equal(f.failedIn(3, 'Deployment/shop/web|app=1.0.1'), true);
  t.equal(f.failedIn(3, 'Deployment/shop/web|app=1.0.2'), false);
  t.equal(f.failedIn(4, 'Deployment/shop/web|app=1.0.1'), false);
  t.end();
});

t.test('versions never pushed again do not pile up across passes', (t) => {
  const f = new GitFailures();
  for (let pass = 1; pass <= 50; pass++) {
    f.record(pass, `Deployment/shop/web|app=1.0.${pass}`);
    f.record(pass, `Deployment/shop/api|app=2.0.${pass}`);
  }
  t.equal(f.size, 2, 'only the newest pass is kept');
  t.equal(f.failedIn(50, 'Deployment/shop/web|app=1.0.50'), true);
  t.equal(f.failedIn(50, 'Deployment/shop/web|app=1.0.49'), false);
  t.end();
});

t.test('a late failure of an older pass keeps the newer pass', (t) => {
  const f = new GitFailures();
  f.record(5, 'Deployment/shop/web|app=1.0.1');
  f.record(4, 'Deployment/shop/api|app=2.0.1');
  t.equal(f.failedIn(5, 'Deployment/shop/web|app=1.0.1'), true);
  t.equal(f.size, 1);
  t.end();
});

t.test('a success and a deleted workload drop their entries', (t) => {
  const f = new GitFailures();
  f.record(1, 'Deployment/shop/web|app=1.0.1');
  f.record(1, 'Deployment/shop/web|side1=3.0.1');
  f.record(1, 'Deployment/shop/webapp|app=1.0.1');
  f.delete('Deployment/shop/web|side1=3.0.1');
  t.equal(f.failedIn(1, 'Deployment/shop/web|side1=3.0.1'), false);
  f.forget('Deployment/shop/web');
  t.equal(f.failedIn(1, 'Deployment/shop/web|app=1.0.1'), false);
  t.equal(f.failedIn(1, 'Deployment/shop/webapp|app=1.0.1'), true, 'a name sharing the prefix stays');
  t.equal(f.size, 1);
  t.end();
});

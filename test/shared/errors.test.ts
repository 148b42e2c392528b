import t from 'tap';
import { ImageWatcherError } from '../../shared/errors.ts';

t.test('an ImageWatcherError keeps its code, message and class name', (t) => {
  const err = new ImageWatcherError('E_X', 'something a user can act on');
  t.equal(err.code, 'E_X');
  t.equal(err.name, 'ImageWatcherError');
  t.ok(err instanceof Error);
  t.end();
});

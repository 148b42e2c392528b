// Notices decided at about the same time (one pass finds many workloads outdated) go to the
// dispatcher together, so NOTIFY_DIGEST_THRESHOLD can fold them into one digest. Each caller gets
// the report of the dispatch that carried its notices (it stamps them sent only after that).
import type { Timers } from './queue.ts';
import { realTimers } from './queue.ts';

export function batchNotices<N, R>(
  send: (notices: N[]) => Promise<R>,
  opts: { windowMs: number; timers?: Timers },
): (notices: N[]) => Promise<R> {
  const timers = opts.timers ?? realTimers;
  let pending: { notices: N[]; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  let timer: unknown;
  const flush = () => {
    const batch = pending;
    pending = [];
    timer = undefined;
    send(batch.flatMap((b) => b.notices)).then(
      (r) => {
        for (const b of batch) b.resolve(r);
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    );
  };
  return (notices) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ notices, resolve, reject });
      if (opts.windowMs <= 0) flush();
      else timer ??= timers.setTimeout(flush, opts.windowMs);
    });
}

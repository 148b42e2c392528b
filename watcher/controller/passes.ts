// Check passes: one per interval, its registry answers, and counting the workloads it checked.
import { CredentialResolver } from '../check/checker.ts';
import type { CheckerDeps } from '../check/checker.ts';
import type { Ctx } from './context.ts';
import { refreshCounts, upsertEntry } from './entries.ts';
import { PassLookups } from './lookups.ts';
import type { Pass } from './lookups.ts';

/**
 * One pass over every workload: fresh registry answers, every key queued. Resolves when each
 * was checked (or deleted). A new pass supersedes an unfinished one (a registry that never
 * answers cannot hold back the next interval).
 */
export function runCycle(ctx: Ctx): Promise<void> {
  if (ctx.stopped) return Promise.resolve();
  if (!ctx.isLeader()) {
    ctx.log.debug('not the leader: skipping the check cycle');
    return Promise.resolve();
  }
  const old = ctx.pass;
  if (old) {
    old.ctrl.abort();
    old.finish();
  }
  for (const w of ctx.deps.watch.list()) upsertEntry(ctx, w);
  refreshCounts(ctx);
  ctx.notesMemo = new Map();
  const keys = [...ctx.entries.keys()];
  const pass = openPass(ctx, keys);
  const { done } = pass;
  void done.then(() => {
    const seconds = (ctx.deps.now().getTime() - pass.started) / 1000;
    ctx.deps.metrics.observeCheck({ seconds, finishedAt: ctx.deps.now() });
    ctx.log.info({ workloads: pass.total, seconds, pass: pass.id }, 'check cycle done');
  });
  if (keys.length === 0) pass.finish();
  for (const k of keys) ctx.queue.add(k);
  return done;
}

export function passDone(ctx: Ctx, key: string): void {
  const p = ctx.pass;
  if (!p || !p.remaining.delete(key)) return;
  if (p.remaining.size === 0) p.finish();
}

/** What the checker needs. */
export function checkerDeps(ctx: Ctx): CheckerDeps {
  return {
    registry: ctx.deps.registry,
    gateway: ctx.deps.gateway,
    credentialsFor: ctx.deps.credentialsFor,
    fallbackDockerConfig: ctx.deps.fallbackDockerConfig,
    concurrency: ctx.deps.config.registryConcurrency,
    logger: ctx.log,
    digestBaselines: ctx.digestBaselines,
  };
}

/** The pass reconciles read registry answers from; an empty one until the first interval. */
export function currentPass(ctx: Ctx): Pass {
  if (ctx.pass) return ctx.pass;
  const pass = openPass(ctx, []);
  pass.finish();
  return pass;
}

/** A new pass over `keys`: fresh per-cycle registry answers and an abort signal of its own. */
function openPass(ctx: Ctx, keys: readonly string[]): Pass {
  ctx.deps.registry.newCycle();
  const ctrl = new AbortController();
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const pass: Pass = {
    id: ++ctx.passSeq,
    started: ctx.deps.now().getTime(),
    lookups: new PassLookups(
      ctx.deps.registry,
      new CredentialResolver(checkerDeps(ctx)),
      AbortSignal.any([ctrl.signal, ctx.abort.signal]),
      ctx.requeue,
      ctx.deps.config.registryConcurrency,
    ),
    ctrl,
    remaining: new Set(keys),
    total: keys.length,
    done,
    finish,
  };
  ctx.pass = pass;
  return pass;
}

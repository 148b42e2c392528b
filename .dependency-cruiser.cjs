// Layers and cycles, checked by `npm run lint` (dependency-cruiser): shared/ is pure and imports
// nothing from webhook/ or watcher/; webhook/ imports nothing from watcher/; no module cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Two modules that import each other (directly or through others).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-is-pure',
      severity: 'error',
      comment: 'shared/ holds pure logic used by both processes.',
      from: { path: '^shared/' },
      to: { path: '^(webhook|watcher)/' },
    },
    {
      name: 'webhook-not-watcher',
      severity: 'error',
      comment: 'The webhook is its own process; it shares code through shared/ only.',
      from: { path: '^webhook/' },
      to: { path: '^watcher/' },
    },
    {
      name: 'watcher-not-webhook',
      severity: 'error',
      comment: 'The watcher shares code with the webhook through shared/ only.',
      from: { path: '^watcher/' },
      to: { path: '^webhook/' },
    },
    {
      name: 'approval-not-notify',
      severity: 'error',
      comment: 'notify/ uses approval/ (signed links); the way back would make the two folders a cycle.',
      from: { path: '^watcher/approval/' },
      to: { path: '^watcher/notify/' },
    },
    {
      name: 'controller-through-index',
      severity: 'error',
      comment: 'The controller folder is used through its index; its action modules are internal.',
      from: { path: '^(shared|webhook|watcher)/', pathNot: '^watcher/controller/' },
      to: { path: '^watcher/controller/', pathNot: '^watcher/controller/index[.]ts$' },
    },
    {
      name: 'sources-not-tests',
      severity: 'error',
      from: { path: '^(shared|webhook|watcher)/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

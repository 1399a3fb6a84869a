/** memshift's one-way import rules, checked by `npm test` (dependency-cruiser): a violation fails the suite. */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'imports go one way', from: {}, to: { circular: true } },
    {
      name: 'tooling-only-from-commands',
      severity: 'error',
      comment: 'the simulators, the bench and the demo are tooling: only commands (and tooling itself) start them',
      from: { path: '^src/', pathNot: '^src/(commands|sim|bench|demo)/' },
      to: { path: '^src/(sim|bench|demo)/' },
    },
    {
      // A warning until the fidelity issue gives the simulators rules of their own (session context, summaries).
      name: 'simulators-share-no-translation',
      severity: 'warn',
      comment: 'a simulator that shared the translators would agree with their misreadings (wire constants aside)',
      from: { path: '^src/sim/' },
      to: { path: '^src/services/', pathNot: '^src/services/(catalog|types)\\.ts$' },
    },
    {
      name: 'services-import-no-jobs',
      severity: 'error',
      comment: 'a legacy service module knows its protocol, not the background jobs',
      from: { path: '^src/services/' },
      to: { path: '^src/(jobs|report|admin|commands)/' },
    },
    {
      name: 'legs-stand-alone',
      severity: 'error',
      comment: 'a leg is one call to one backend: it knows nothing of the flow around it',
      from: { path: '^src/legs/' },
      to: { path: '^src/', pathNot: '^src/legs/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count too: a cycle of types is a cycle of ideas.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

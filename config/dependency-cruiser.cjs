/** memshift's one-way import rules, checked by `npm test` (dependency-cruiser): a violation fails the suite. */
// The request path as layers: a module may import the layers after its own, never those before it. A
// request flows fronts -> routes -> plan -> legs -> comparison -> store; routes and comparison sit below
// plan because the plan works with their words (a route, an observation, a result) without calling back up.
const FLOW = ['fronts', 'plan', 'comparison', 'routes', 'legs', 'store'];
const JOBS = 'outbox|reconcile|guard|backfill|report|admin';
const upstreamOf = (i) => FLOW.slice(0, i).join('|');

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'imports go one way', from: {}, to: { circular: true } },
    ...FLOW.slice(1).map((room, i) => ({
      name: `flow-${room}`,
      severity: 'error',
      comment: `layers ${FLOW.join(' > ')}: ${room} does not import a layer above it`,
      from: { path: `^src/${room}/` },
      to: { path: `^src/(${upstreamOf(i + 1)})/` },
    })),
    {
      name: 'tooling-only-from-commands',
      severity: 'error',
      comment: 'the simulators, the bench and the demo are tooling: only commands (and tooling itself) start them',
      from: { path: '^src/', pathNot: '^src/(commands|tools)/' },
      to: { path: '^src/tools/' },
    },
    {
      name: 'simulators-share-no-translation',
      severity: 'error',
      comment: 'a simulator that shared memshift logic would agree with its misreadings: the simulators follow PROTOCOLS.md on their own',
      from: { path: '^src/tools/sim/' },
      // Not even wire constants: the simulators spell the page's lists themselves.
      to: { path: '^src/(services|plan|routes|comparison|reconcile|outbox|util/pyjson|util/redact|util/stamps|util/storable-key)' },
    },
    {
      name: 'services-import-no-jobs',
      severity: 'error',
      comment: 'a legacy service module knows its protocol, not the flow or the background jobs around it',
      from: { path: '^src/services/' },
      to: { path: `^src/(${JOBS}|commands|fronts|routes|plan|store|proxy\\.ts)` },
    },
    {
      name: 'legs-stand-alone',
      severity: 'error',
      comment: 'a leg is one call to one backend: it knows nothing of the flow around it',
      from: { path: '^src/legs/' },
      to: { path: '^src/', pathNot: '^src/(legs|util)/' },
    },
    {
      name: 'telemetry-imports-no-flow',
      severity: 'error',
      comment: 'telemetry gives instruments and spans; the flow calls it, never the other way',
      from: { path: '^src/telemetry/' },
      to: { path: '^src/', pathNot: '^src/(telemetry|util)/' },
    },
    {
      name: 'jobs-apart',
      severity: 'error',
      comment: 'the flow does not know the background jobs; they plug into it',
      from: { path: `^src/(${FLOW.join('|')}|services)/` },
      to: { path: `^src/(${JOBS})/` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count too: a cycle of types is a cycle of ideas.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

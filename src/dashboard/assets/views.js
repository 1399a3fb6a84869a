// The console's views: DOM building, formatting, the per-service details and gap notes, and the uPlot chart (imported by app.js).

/** Charts by service, replaced when their card is redrawn. */
const charts = new Map();

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** Decimals from `d` on until `v` reads apart from the `limit` it is shown beside (never "0.10%" over "0.10%"). */
const apart = (v, limit, d) => {
  let n = d;
  while (limit !== undefined && n < d + 6 && v.toFixed(n) === limit.toFixed(n)) n++;
  return n;
};
export const pct = (v, limit) =>
  v === null || v === undefined ? '–' : `${(v * 100).toFixed(apart(v * 100, limit === undefined ? undefined : limit * 100, v < 0.1 ? 2 : 1))}%`;
export const ms = (v, limit) => (v === null || v === undefined ? '–' : `${v.toFixed(apart(v, limit, 1))} ms`);
export const flagLabel = (f) =>
  (!f ? 'absent' : f.forcedOff ? 'forced off' : !f.enabled ? 'off' : f.rollout === undefined ? 'on' : `on · ${f.rollout}%`) +
  (f?.held ? ' · held (not in Unleash)' : '');

export function figureRow(label, value, figure, threshold, breached) {
  return el(
    'tr',
    {},
    el('th', { scope: 'row' }, label),
    el('td', { 'data-figure': figure, class: breached ? 'bad' : '' }, value),
    el('td', { class: 'muted' }, threshold || ''),
  );
}

/** A service's flags, each with its state. */
export const flagsTable = (flags) =>
  el(
    'table',
    { class: 'flags' },
    el('caption', {}, 'Flags'),
    Object.entries(flags).map(([n, f]) => el('tr', { 'data-flag': n }, el('th', { scope: 'row' }, n.split('.').pop()), el('td', {}, flagLabel(f)))),
  );

/** This replica's comparison counts and outbox depth for a service since it started. */
export function totalsTable(s) {
  const c = s.comparisons || {};
  return el(
    'table',
    { class: 'figures' },
    el('caption', {}, 'Since start (this replica)'),
    figureRow('Compared', c.compared ?? '–', 'compared'),
    figureRow('Mismatches', c.mismatches ?? '–', 'mismatches'),
    figureRow('Skipped (write in flight)', c.skipped ?? '–', 'skipped'),
    figureRow('Re-checked later', c.rechecked ?? '–', 'rechecked'),
    figureRow('Never compared', c.neverCompared ?? '–', 'never-compared'),
    figureRow('Outbox depth', s.outboxDepth ?? '–', 'outbox-depth'),
  );
}

export function details(r) {
  const fields = r.topFields.length
    ? el(
        'ul',
        {},
        r.topFields.map((f) => el('li', {}, el('code', {}, f.path), ` ×${f.count}`)),
      )
    : el('p', { class: 'muted' }, 'No mismatch samples today.');
  const samples = r.samples.length
    ? el(
        'table',
        { class: 'diff' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, 'Legacy'), el('th', {}, 'New'))),
        el(
          'tbody',
          {},
          r.samples
            .flatMap((s) =>
              s.diffs.map((d) =>
                el('tr', {}, el('td', {}, el('code', {}, d.path)), el('td', { class: 'legacy' }, show(d.legacy)), el('td', { class: 'new' }, show(d.new))),
              ),
            )
            .slice(0, 8),
        ),
      )
    : '';
  const runs = r.reconcile.length
    ? el(
        'ul',
        {},
        r.reconcile
          .slice(0, 5)
          .map((x) =>
            el(
              'li',
              {},
              `#${x.id} ${x.trigger} ${x.status}: ${x.missingInNew} missing in new, ${x.missingInLegacy} in legacy, ${x.differing} differing, ${x.remaining} remaining`,
            ),
          ),
      )
    : el('p', { class: 'muted' }, 'No reconciliation run today.');
  const events = r.guardEvents.length
    ? el(
        'ul',
        {},
        r.guardEvents.map((e) =>
          el(
            'li',
            {},
            `${e.at.slice(11, 19)} ${e.stage}: ${
              e.kind !== 'resume'
                ? e.breaches
                    .map((b) => {
                      const fmt = b.rule === 'addedLatencyMs' ? ms : pct;
                      return `${b.rule} ${fmt(b.value, b.threshold)} > ${fmt(b.threshold)}`;
                    })
                    .join(', ')
                : e.covering
                  ? 'a trip stored after its resume, let go of by memshift'
                  : 'resumed by a person'
            }`,
          ),
        ),
      )
    : el('p', { class: 'muted' }, 'No guard event today.');
  const kinds =
    Object.entries(r.comparison.kinds)
      .map(([k, n]) => `${k.replaceAll('_', ' ')} ${n}`)
      .join(', ') || 'none';
  return el(
    'div',
    { class: 'details' },
    el('div', {}, el('h3', {}, 'Top differing fields'), fields, el('p', {}, `Kinds today: ${kinds}`)),
    el('div', {}, el('h3', {}, 'Mismatch samples (legacy | new)'), samples || el('p', { class: 'muted' }, 'None.')),
    el(
      'div',
      {},
      el('h3', {}, 'Reconciliation runs'),
      runs,
      el('h3', {}, 'Guard events'),
      events,
      el('p', {}, 'Served today (every replica): ', el('span', { 'data-figure': 'served' }, r.served.requests), `, backend errors ${r.served.backendError}`),
      el('p', {}, `Verdict: ${r.verdict.verdict} — ${r.verdict.reasons[0] || ''}`),
    ),
  );
}

const show = (v) => (v === undefined ? '(absent)' : typeof v === 'string' ? v : JSON.stringify(v));

export function drawChart(name, holder, series) {
  if (!window.uPlot || !series.length) return;
  const xs = series.map((p) => Date.parse(p.at) / 1000);
  const data = [xs, series.map((p) => (p.compared ? p.mismatchRate * 100 : null)), series.map((p) => p.compared)];
  let chart = charts.get(name);
  if (chart && chart.root.isConnected) {
    chart.setData(data);
    return;
  }
  chart = new window.uPlot(
    {
      width: Math.max(320, holder.clientWidth || 640),
      height: 160,
      title: `${name}: compared reads and mismatch rate`,
      series: [{}, { label: 'mismatch %', stroke: '#dc2626', scale: '%' }, { label: 'compared', stroke: '#2563eb', scale: 'n' }],
      axes: [{}, { scale: '%', label: '%' }, { scale: 'n', side: 1, label: 'reads' }],
    },
    data,
    holder,
  );
  charts.set(name, chart);
}

/** A side that missed writes (legacy at complete, the orchestrator served to legacy alone) serves stale reads until a repair. */
export const gapText = (name, behindSince, side) =>
  side === 'legacy'
    ? `legacy has missed writes since ${behindSince.legacy} (served at complete): reads from it are stale until ` +
      `memshift reconcile --service ${name} --repair --truth new at new-primary`
    : `the orchestrator has missed writes since ${behindSince.new} (served to legacy alone: under the kill switch, or at off again): reads ` +
      `from it are stale until memshift reconcile --service ${name} --repair --truth legacy at dual-write, shadow or cutover`;

/** A service card's notes, one per side with a gap. */
export const gapNotes = (name, behindSince) =>
  ['legacy', 'new']
    .filter((side) => behindSince[side])
    .map((side) => {
      const text = gapText(name, behindSince, side);
      return el('p', { class: 'bad', 'data-figure': `${side}-behind` }, `${text[0].toUpperCase()}${text.slice(1)}.`);
    });

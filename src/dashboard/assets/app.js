// The migration console in the browser: polls /ui/api (status every 2 s, overview every 5 s), draws each service, and sends the controls.
'use strict';

const STATUS_MS = 2000;
const OVERVIEW_MS = 5000;
let csrf = '';
let current = null;
let overview = null;
const charts = new Map();

function el(tag, attrs, ...children) {
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

const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`);
const ms = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} ms`);
const flagLabel = (f) => (!f ? 'absent' : f.forcedOff ? 'forced off' : !f.enabled ? 'off' : f.rollout === undefined ? 'on' : `on · ${f.rollout}%`);

async function api(path, body) {
  const res = await fetch(`/ui/api${path}`, {
    method: body ? 'POST' : 'GET',
    headers: body ? { 'content-type': 'application/json', 'x-csrf-token': csrf } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: 'same-origin',
  });
  if (res.status === 401) {
    location.reload();
    throw new Error('logged out');
  }
  const data = await res.json();
  if (!res.ok) throw new Error(data.message || `HTTP ${res.status}`);
  return data;
}

function say(text, bad) {
  const m = document.getElementById('message');
  m.textContent = text;
  m.className = bad ? 'bad' : 'ok';
}

/** Asks before acting: every control changes what agents get. */
function confirmThen(text, act) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'ok') return;
    try {
      await act();
      await refresh();
    } catch (err) {
      say(err.message, true);
    }
  };
  dialog.showModal();
}

function control(body, text) {
  confirmThen(text, async () => {
    const r = await api('/control', body);
    say(
      `${text}: ${r.action.edits.map((e) => `${e.flag} ${e.enabled === false ? 'off' : 'on'}${e.rollout !== undefined ? ` ${e.rollout}%` : ''}`).join(', ') || 'nothing to change'} (${r.action.target})`,
    );
  });
}

function figureRow(label, value, figure, threshold, breached) {
  return el(
    'tr',
    {},
    el('th', { scope: 'row' }, label),
    el('td', { 'data-figure': figure, class: breached ? 'bad' : '' }, value),
    el('td', { class: 'muted' }, threshold || ''),
  );
}

function serviceCard(name, s, report) {
  const w = s.guard ? s.guard.figures : null;
  const t = overview ? overview.thresholds : null;
  const c = s.comparisons || {};
  const flags = el(
    'table',
    { class: 'flags' },
    el('caption', {}, 'Flags'),
    Object.entries(s.flags).map(([n, f]) => el('tr', { 'data-flag': n }, el('th', { scope: 'row' }, n.split('.').pop()), el('td', {}, flagLabel(f)))),
  );
  // A window figure beside its guard threshold, flagged once over it.
  const ruleRow = (label, name, value, rule, fmt) =>
    figureRow(label, fmt(value), name, t ? `threshold ${fmt(t[rule].threshold)}` : '', value !== null && value !== undefined && t && value > t[rule].threshold);
  const win = el(
    'table',
    { class: 'figures' },
    el('caption', {}, `Guard window (${w ? Math.round(w.windowMs / 1000) : '–'} s)`),
    figureRow('Compared reads', w ? w.compared : '–', 'window-compared', t ? `min ${t.mismatchRate.minSamples}` : ''),
    ruleRow('Mismatch rate', 'window-mismatch-rate', w && w.mismatchRate, 'mismatchRate', pct),
    ruleRow('New-side error rate', 'window-error-rate', w && w.errorRate, 'errorRate', pct),
    ruleRow('Added p99', 'window-added-p99', w && w.addedLatencyMs, 'addedLatencyMs', ms),
  );
  const totals = el(
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
  const percentInput = (kind) =>
    el('input', {
      type: 'number',
      min: 0,
      max: 100,
      step: 1,
      'aria-label': `${kind} percentage`,
      'data-input': kind,
      value: (s.flags[`memshift.${name}.${kind}`] || {}).rollout ?? 0,
    });
  const ramp = (kind) => {
    const input = percentInput(kind);
    return el(
      'span',
      { class: 'ramp' },
      input,
      el(
        'button',
        {
          'data-action': `ramp-${kind}`,
          onclick: () => control({ op: 'ramp', service: name, kind, percent: Number(input.value) }, `Ramp ${name} ${kind} to ${Number(input.value)}%`),
        },
        `Ramp ${kind}`,
      ),
    );
  };
  const controls = el(
    'div',
    { class: 'controls' },
    ramp('read-new'),
    ramp('shadow-read'),
    el('button', { 'data-action': 'advance', onclick: () => control({ op: 'advance', service: name }, `Advance ${name} to its next stage`) }, 'Advance stage'),
    el(
      'button',
      {
        'data-action': 'rollback',
        class: 'danger',
        onclick: () => control({ op: 'rollback', service: name }, `Roll ${name} back: reads to legacy, dual writes kept`),
      },
      'Roll back',
    ),
  );
  const chart = el('div', { class: 'chart', 'data-chart': name });
  const card = el(
    'section',
    { class: 'panel service', 'data-service': name },
    el(
      'div',
      { class: 'head' },
      el('h2', {}, name),
      el('span', { class: 'stage', 'data-figure': 'stage' }, s.stage),
      el('span', { class: `guard ${s.guard ? s.guard.state : 'off'}`, 'data-figure': 'guard' }, `guard ${s.guard ? s.guard.state : 'off'}`),
    ),
    controls,
    el('div', { class: 'split' }, flags, win, totals),
    chart,
    report ? details(report) : '',
  );
  return { card, chart };
}

function details(r) {
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
          el('li', {}, `${e.at.slice(11, 19)} ${e.stage}: ${e.breaches.map((b) => `${b.rule} ${b.value.toFixed(4)} > ${b.threshold}`).join(', ')}`),
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
      el('p', {}, `Verdict: ${r.verdict.verdict} — ${r.verdict.reasons[0] || ''}`),
    ),
  );
}

const show = (v) => (v === undefined ? '(absent)' : typeof v === 'string' ? v : JSON.stringify(v));

function drawChart(name, holder, series) {
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

function render() {
  if (!current) return;
  document.getElementById('source').textContent = `flags from ${current.flagSource}`;
  const kill = document.getElementById('kill');
  kill.replaceChildren(
    el('strong', { class: current.killSwitch ? 'bad' : '' }, `kill switch ${current.killSwitch ? 'ON' : 'off'} `),
    el(
      'button',
      {
        'data-action': 'kill-switch',
        class: 'danger',
        onclick: () => control({ op: 'kill-switch', on: !current.killSwitch }, `Turn the kill switch ${current.killSwitch ? 'off' : 'on'}`),
      },
      current.killSwitch ? 'Release kill switch' : 'Kill switch',
    ),
  );
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  const reports = new Map((overview ? overview.report.services : []).map((r) => [r.service, r]));
  const main = document.getElementById('services');
  const cards = Object.entries(current.services).map(([name, s]) => {
    const { card, chart } = serviceCard(name, s, reports.get(name));
    return { name, card, chart };
  });
  // Keep focus and typed percentages across refreshes: replace a card only when nothing in it is being edited.
  const editing = document.activeElement && document.activeElement.closest('[data-service]');
  main.replaceChildren(...cards.map(({ name, card }) => (editing && editing.dataset.service === name ? editing : card)));
  charts.clear();
  for (const { name, chart } of cards) if (reports.get(name)) drawChart(name, chart, reports.get(name).series);
  renderFleet();
}

function renderFleet() {
  if (!overview || !current) return;
  const o = current.outbox || {};
  const parked = overview.parked;
  document.getElementById('fleet').replaceChildren(
    el(
      'p',
      {},
      `Outbox: depth ${o.depth ?? '–'}, oldest ${o.oldestAgeMs !== undefined ? `${Math.round(o.oldestAgeMs / 1000)} s` : '–'}, parked `,
      el('span', { 'data-figure': 'parked' }, parked.length),
    ),
    parked.length
      ? el(
          'div',
          {},
          el(
            'ul',
            {},
            parked.slice(0, 10).map((p) => el('li', {}, `${p.service} ${p.key} ${p.action} → ${p.side}: ${p.lastError || ''}`)),
          ),
          el(
            'button',
            {
              'data-action': 'retry-parked',
              onclick: () =>
                confirmThen(`Retry ${parked.length} parked write(s)`, async () => say(`retried ${(await api('/outbox/retry', {})).retried} write(s)`)),
            },
            'Retry parked writes',
          ),
        )
      : '',
  );
  document.getElementById('actions').replaceChildren(
    overview.actions.length
      ? el(
          'ul',
          {},
          overview.actions.map((a) =>
            el(
              'li',
              {},
              `${a.at.slice(0, 19).replace('T', ' ')} ${a.who}: ${a.action.op}${a.action.service ? ` ${a.action.service}` : ''}${a.action.kind ? ` ${a.action.kind}` : ''}${a.action.percent !== undefined ? ` ${a.action.percent}%` : ''}${a.error ? ` — failed: ${a.error}` : ''}`,
            ),
          ),
        )
      : el('p', { class: 'muted' }, 'None yet.'),
  );
}

async function loadReports() {
  const list = await api('/reports');
  document.getElementById('reports').replaceChildren(
    el(
      'ul',
      {},
      list.reports.map((r) =>
        el(
          'li',
          {},
          `${r.date} `,
          ...['html', 'md', 'json'].map((f) => el('a', { href: `/ui/api/reports/${r.date}.${f}`, target: '_blank', rel: 'noopener' }, f, ' ')),
          Object.entries(r.verdicts)
            .map(([s, v]) => `${s}: ${v}`)
            .join(', '),
        ),
      ),
    ),
  );
}

async function refresh() {
  current = await api('/status');
  render();
}

async function refreshOverview() {
  overview = await api('/overview');
  render();
}

async function start() {
  csrf = (await api('/session')).csrf;
  await Promise.all([refresh(), refreshOverview(), loadReports().catch(() => undefined)]);
  setInterval(() => refresh().catch((err) => say(err.message, true)), STATUS_MS);
  setInterval(() => refreshOverview().catch((err) => say(err.message, true)), OVERVIEW_MS);
}

window.addEventListener('DOMContentLoaded', () => start().catch((err) => say(err.message, true)));

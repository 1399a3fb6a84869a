// The migration console in the browser: polls /ui/api (status every 2 s, overview every 5 s), draws each service, and sends the controls.
import { details, drawChart, el, figureRow, flagsTable, gapNotes, gapText, ms, pct, totalsTable } from './views.js';

const STATUS_MS = 2000;
const OVERVIEW_MS = 5000;
let csrf = '';
let current = null;
let overview = null;

async function api(path, body) {
  const res = await fetch(`ui/api${path}`, {
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

function serviceCard(name, s, report) {
  const w = s.guard ? s.guard.figures : null;
  const t = overview ? overview.thresholds : null;
  // A window figure beside its guard threshold, flagged once over it.
  const ruleRow = (label, name, value, rule, fmt) => {
    const limit = t ? t[rule].threshold : undefined;
    return figureRow(label, fmt(value, limit), name, t ? `threshold ${fmt(limit)}` : '', value !== null && value !== undefined && t && value > limit);
  };
  const win = el(
    'table',
    { class: 'figures' },
    el('caption', {}, `Guard window (${w ? Math.round(w.windowMs / 1000) : '–'} s)`),
    figureRow('Compared reads', w ? w.compared : '–', 'window-compared', t ? `min ${t.mismatchRate.minSamples}` : ''),
    ruleRow('Mismatch rate', 'window-mismatch-rate', w && w.mismatchRate, 'mismatchRate', pct),
    ruleRow('New-side error rate', 'window-error-rate', w && w.errorRate, 'errorRate', pct),
    ruleRow('Added p99', 'window-added-p99', w && w.addedLatencyMs, 'addedLatencyMs', ms),
  );
  const behind = s.behindSince.legacy && gapText(name, s.behindSince, 'legacy');
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
        onclick: () => control({ op: 'rollback', service: name }, `Roll ${name} back: reads to legacy, dual writes kept${behind ? ` (${behind})` : ''}`),
      },
      'Roll back',
    ),
    // A rolled-back service stays on legacy, whatever its flags say, until a person resumes its guard.
    s.guard && s.guard.state === 'tripped'
      ? el(
          'button',
          {
            'data-action': 'resume-guard',
            onclick: () =>
              confirmThen(`Resume the guard of ${name}: its flags count again, and its window starts empty`, async () => {
                await api(`/guard/${name}/resume`, {});
                say(`guard of ${name} resumed`);
              }),
          },
          'Resume guard',
        )
      : '',
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
    gapNotes(name, s.behindSince),
    // Why the guard tripped: its window starts empty at a trip, so the figures below no longer show it.
    s.guard && s.guard.why ? el('p', { class: 'bad', 'data-figure': 'guard-why' }, `Guard: ${s.guard.why}.`) : undefined,
    controls,
    el('div', { class: 'split' }, flagsTable(s.flags), win, totalsTable(s)),
    chart,
    report ? details(report) : '',
  );
  return { card, chart };
}

function render() {
  if (!current) return;
  // Behind a Service each refresh may reach another replica: its own figures (since start) are that one's.
  document.getElementById('source').textContent = `flags from ${current.flagSource} · answered by replica ${current.replica}`;
  const kill = document.getElementById('kill');
  kill.replaceChildren(
    el('strong', { class: current.killSwitch ? 'bad' : '' }, `kill switch ${current.killSwitch ? 'ON' : 'off'} `),
    el(
      'button',
      {
        'data-action': 'kill-switch',
        class: 'danger',
        onclick: () =>
          control(
            { op: 'kill-switch', on: !current.killSwitch },
            current.killSwitch
              ? 'Turn the kill switch off: each service back to its stage (a repair first where the orchestrator missed writes)'
              : 'Turn the kill switch on: every service to legacy only (the writes then miss the orchestrator until a repair from legacy)',
          ),
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
  for (const { name, chart } of cards) if (reports.get(name)) drawChart(name, chart, reports.get(name).series);
  renderFleet();
}

function renderFleet() {
  if (!overview || !current) return;
  const o = current.outbox || {};
  const parked = overview.parked;
  const f = current.fleet;
  document.getElementById('fleet').replaceChildren(
    f
      ? el(
          'p',
          {},
          'Replicas on this store: ',
          el('span', { 'data-figure': 'replicas' }, f.live),
          f.disagreements.length
            ? el('strong', { class: 'bad' }, ' — configured apart, give them one configuration and one flags source:')
            : ', configured alike',
        )
      : '',
    f && f.disagreements.length
      ? el(
          'ul',
          { 'data-figure': 'disagreements' },
          f.disagreements.map((d) => el('li', {}, d)),
        )
      : '',
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
          ...['html', 'md', 'json'].map((f) => el('a', { href: `ui/api/reports/${r.date}.${f}`, target: '_blank', rel: 'noopener' }, f, ' ')),
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

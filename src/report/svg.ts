/**
 * A small time-series line chart as inline SVG (no script, no external assets): axes with round ticks,
 * one line per series broken at gaps, a marker per data point with its value as a tooltip, and an
 * optional threshold line.
 */
import { hhmm } from './format.js';

export interface ChartSeries {
  name: string;
  color: string;
  /** One value per entry of `times`; null is a gap (nothing measured there). */
  values: (number | null)[];
}

export interface ChartSpec {
  /** Marks the chart in the page (data-chart). */
  id: string;
  title: string;
  /** Epoch ms of each point. */
  times: number[];
  xDomain: [number, number];
  series: ChartSeries[];
  yFormat: (v: number) => string;
  threshold?: { value: number; label: string };
  width?: number;
  height?: number;
}

const M = { top: 14, right: 18, bottom: 26, left: 62 };
const TIME_STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360];

export const escapeXml = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Round tick values from 0 to at least `max`. */
function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 220;
  const plotW = width - M.left - M.right;
  const plotH = height - M.top - M.bottom;
  const [x0, x1] = spec.xDomain;
  const x = (t: number) => M.left + ((t - x0) / Math.max(1, x1 - x0)) * plotW;

  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const open = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeXml(spec.id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(spec.title)}">`;
  if (!values.length) {
    return `${open}<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" class="plot"/><text x="${M.left + plotW / 2}" y="${M.top + plotH / 2}" class="empty" text-anchor="middle">No data for this day</text></svg>`;
  }
  const ticks = niceTicks(Math.max(...values, spec.threshold ? spec.threshold.value * 1.2 : 0));
  const yMax = ticks[ticks.length - 1]!;
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;

  const parts: string[] = [open, `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" class="plot"/>`];
  for (const t of ticks) {
    parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${f(y(t))}" y2="${f(y(t))}" class="grid"/>`);
    parts.push(`<text x="${M.left - 8}" y="${f(y(t) + 4)}" class="tick" text-anchor="end">${escapeXml(spec.yFormat(t))}</text>`);
  }
  const stepMin = TIME_STEPS_MIN.find((s) => (x1 - x0) / 60_000 / s <= 6) ?? 360;
  const step = stepMin * 60_000;
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${M.top + plotH}" y2="${M.top + plotH + 4}" class="axis"/>`);
    parts.push(`<text x="${f(x(t))}" y="${M.top + plotH + 17}" class="tick" text-anchor="middle">${hhmm(t)}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${M.top + plotH}" y2="${M.top + plotH}" class="axis"/>`);
  if (spec.threshold) {
    const ty = f(y(spec.threshold.value));
    parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${ty}" y2="${ty}" class="threshold"/>`);
    parts.push(
      `<text x="${M.left + plotW - 4}" y="${f(y(spec.threshold.value) - 5)}" class="threshold-label" text-anchor="end">${escapeXml(spec.threshold.label)}</text>`,
    );
  }

  // Many points: the line carries them; markers stay as invisible hover targets for their tooltips.
  const dense = spec.times.length > 60;
  for (const s of spec.series) {
    let d = '';
    let pen = false;
    const marks: string[] = [];
    s.values.forEach((v, i) => {
      const t = spec.times[i];
      if (v === null || !Number.isFinite(v) || t === undefined) {
        pen = false;
        return;
      }
      const px = f(x(t));
      const py = f(y(v));
      d += `${pen ? 'L' : 'M'}${px} ${py}`;
      pen = true;
      marks.push(
        `<circle class="pt${dense ? ' dense' : ''}" cx="${px}" cy="${py}" r="${dense ? 4 : 3}" fill="${s.color}" data-value="${v}"><title>${escapeXml(`${s.name} ${hhmm(t)}: ${spec.yFormat(v)}`)}</title></circle>`,
      );
    });
    parts.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`);
    parts.push(...marks, '</g>');
  }
  parts.push('</svg>');
  return parts.join('');
}

const f = (v: number) => (Math.round(v * 10) / 10).toString();

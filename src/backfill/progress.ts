/** Backfill progress: a redrawn bar (count, rate, ETA) on a terminal, a plain line every few seconds otherwise. */

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Progress {
  update(done: number, writes: number): void;
  finish(done: number, writes: number): void;
}

const BAR = 30;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function progressReporter(out: ProgressOutput, label: string, total: number, startDone = 0, lineEveryMs = 5_000): Progress {
  const started = performance.now();
  let lastDraw = -Infinity;
  const line = (done: number, writes: number): string => {
    const seconds = (performance.now() - started) / 1000;
    const rate = (done - startDone) / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const pct = total ? (100 * done) / total : 100;
    return `${done.toLocaleString('en')}/${total.toLocaleString('en')} keys (${pct.toFixed(1)}%), ${writes.toLocaleString('en')} writes, ${Math.round(rate).toLocaleString('en')} keys/s, ETA ${duration(eta)}`;
  };
  const draw = (done: number, writes: number, force: boolean) => {
    const now = performance.now();
    if (!force && now - lastDraw < (out.isTTY ? 100 : lineEveryMs)) return;
    lastDraw = now;
    if (out.isTTY) {
      const filled = total ? Math.round((BAR * done) / total) : BAR;
      out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${line(done, writes)}\u001b[K`);
    } else out.write(`${label}: ${line(done, writes)}\n`);
  };
  return {
    update: (done, writes) => draw(done, writes, false),
    finish(done, writes) {
      draw(done, writes, true);
      if (out.isTTY) out.write('\n');
    },
  };
}

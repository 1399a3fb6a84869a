/** Bounds a promise's wait: rejects with `timedOut()` when `work` has not settled within `ms` of this process's running time. */
export function withDeadline<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    const arm = (regrace: boolean) => {
      const due = performance.now() + ms;
      timer = setTimeout(() => {
        if (regrace && firedPaused(due, ms)) arm(false);
        else reject(timedOut());
      }, ms);
    };
    arm(true);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Whether a timer of `ms` due at `due` (performance.now()) fired late by half its time or more: this process was
 * paused (SIGSTOP, a stalled event loop), and Node runs due timers before reading what arrived meanwhile. The answer
 * may be waiting unread: its waiter gives the other side its time once more, counted from now (once: a side that
 * never answers is still given up on).
 */
export function firedPaused(due: number, ms: number): boolean {
  return performance.now() - due >= ms / 2;
}

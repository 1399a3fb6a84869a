/** Blocks this thread for a while from its next turn, as a paused process (SIGSTOP) or a long collection would. */
export function stallSoon(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setImmediate(() => {
      const until = Date.now() + ms;
      while (Date.now() < until);
      resolve();
    }),
  );
}

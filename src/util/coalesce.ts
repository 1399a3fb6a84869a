/** One run at a time of an async job: calls while it runs ask for one more run after it, and share its promise. */
export function coalesced(job: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      // Work handed in since the run began is picked up by the run after it, which this promise covers.
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await job();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}

/** How messages name a side of the migration: legacy, or the orchestrator. */
export const sideName = (side: 'legacy' | 'new'): string => (side === 'legacy' ? 'legacy' : 'the orchestrator');

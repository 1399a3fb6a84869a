/**
 * Keeps idle CPUs from halting while the bench measures latency, the way cyclictest does: a PM QoS
 * request of 0 µs on /dev/cpu_dma_latency, held for as long as the file stays open. On a VM a halted
 * vCPU is descheduled by the host, and waking it costs up to milliseconds; every extra process hop adds
 * such wake-ups, so without this the p99 measures the hypervisor more than the proxy.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const PM_QOS = '/dev/cpu_dma_latency';

/** Returns the release function, or undefined when the device is missing or not writable (not root). */
export function keepCpusAwake(): (() => void) | undefined {
  try {
    const fd = openSync(PM_QOS, 'w');
    writeSync(fd, Buffer.alloc(4)); // a binary s32: 0 µs of wake-up latency allowed
    return () => closeSync(fd);
  } catch {
    return undefined;
  }
}

/** The line the bench prints about it, so a figure is never read without knowing how CPUs idled. */
export function cpuWakeNote(held: boolean, asked: boolean): string {
  if (held) return 'idle CPUs kept awake while measuring (PM QoS 0 us on /dev/cpu_dma_latency, as cyclictest does; --let-cpus-idle to measure without)';
  const why = asked ? '--let-cpus-idle' : '/dev/cpu_dma_latency not writable: run as root to keep them awake';
  return `idle CPUs may halt while measuring (${why}): on a VM each wake-up of a halted vCPU adds to every hop`;
}

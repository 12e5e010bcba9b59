// Background work that every server process runs on a timer (the expired-row purge, break-glass
// webhook redelivery): first after `firstMs`, then every `intervalMs` after the previous run
// ended, each delay with ±25 % jitter so that instances sharing one database do not run in step.
// The timer never keeps the process alive; stop() waits for a run under way.

export interface PeriodicTask {
  /** Stops the timer; resolves when a run under way has finished. */
  stop(): Promise<void>;
}

/** `task` must not reject (it logs its own failures); a rejection is swallowed so the schedule goes on. */
export function schedulePeriodic(task: () => Promise<void>, options: { firstMs: number; intervalMs: number }): PeriodicTask {
  let running: Promise<void> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const jitter = (ms: number) => Math.round(ms * (0.75 + Math.random() * 0.5));
  const plan = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = task().catch(() => undefined).finally(() => {
        running = undefined;
        plan(options.intervalMs);
      });
    }, jitter(ms));
    timer.unref();
  };
  plan(options.firstMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

// Keeps a started server running until SIGINT/SIGTERM, then closes it cleanly.
import type { RunningServer } from '../server/start.js';

export function untilSignal(server: RunningServer, close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const stop = async () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await server.close().catch(() => undefined);
      await close().catch(() => undefined);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

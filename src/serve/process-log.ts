// The serving process's own log (not the access log): JSON lines on stderr for starts, applies,
// rejected configurations with their origins, drains and worker restarts. Never carries secrets.

import pino, { type Logger } from 'pino';

export type ProcessLog = Logger;

export function createProcessLog(role: 'primary' | 'worker' | 'single'): ProcessLog {
  return pino(
    {
      base: { pid: process.pid, role },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

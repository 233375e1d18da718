// One JSON line per finished request, to stdout or a file, with the fields the configuration
// selects (IRGlobal.accessLog). Written asynchronously; closed (flushed in order) when the process drains.

import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import type { IRGlobal } from '../ir/types.js';
import type { RequestInfo } from '../dataplane/runtime-types.js';

/** Fields a line may carry; the default set when IRGlobal.accessLog.fields is absent. */
export const ACCESS_LOG_FIELDS = [
  'generation', 'listener', 'method', 'path', 'authority', 'status', 'route', 'cluster', 'upstreamAddress',
  'durationMs', 'bytesIn', 'bytesOut', 'clientAddress', 'requestId', 'localReply', 'upstreamError', 'policies', 'traceId',
] as const satisfies readonly (keyof RequestInfo)[];

export class AccessLogError extends Error {
  readonly code = 'PORTICO_ERR_ACCESS_LOG';
}

export class AccessLog {
  private readonly destination: ReturnType<typeof pino.destination>;
  private enabled = true;
  private closed = false;
  private fields: readonly string[] = ACCESS_LOG_FIELDS;

  /**
   * dest: '-' for stdout, or a file path (appended, directories created). The file is opened here,
   * synchronously, so a bad path fails at startup with AccessLogError instead of later.
   */
  constructor(dest: string, onError: (message: string) => void = () => {}) {
    let fd = 1;
    if (dest !== '-') {
      try {
        mkdirSync(dirname(dest), { recursive: true });
        fd = openSync(dest, 'a');
      } catch (err) {
        throw new AccessLogError(`cannot open the access log ${dest}: ${(err as Error).message}`);
      }
    }
    // pino's buffered writer (sonic-boom) alone: a line needs no level or logger fields.
    this.destination = pino.destination({ dest: fd, sync: false });
    let reported = false;
    this.destination.on('error', (err: Error) => {
      // A full disk must not take traffic down; say it once.
      if (!reported) onError(`access log ${dest}: ${err.message}`);
      reported = true;
    });
  }

  /** Follow the configuration being served; unknown field names are ignored. */
  configure(accessLog: IRGlobal['accessLog']): void {
    this.enabled = accessLog.enabled;
    this.fields = accessLog.fields && accessLog.fields.length > 0 ? accessLog.fields : ACCESS_LOG_FIELDS;
  }

  write(info: RequestInfo): void {
    if (!this.enabled || this.closed) return;
    const line: Record<string, unknown> = { time: new Date().toISOString() };
    const src = info as unknown as Record<string, unknown>;
    for (const f of this.fields) if (src[f] !== undefined) line[f] = src[f];
    this.destination.write(JSON.stringify(line) + '\n');
  }

  /** Write out what is buffered, in order, and release the file (stdout stays open). */
  close(): Promise<void> {
    const d = this.destination;
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      d.once('close', () => resolve());
      d.once('error', () => resolve());
      d.end();
    });
  }
}

// How a failed system call reads in a message: its code first (what scripts match), then the
// system's own words for it, from Node's errno table.

import { getSystemErrorMap } from 'node:util';

/** "ENOENT (no such file or directory)" for a system error; the message of any other error. */
export function systemReason(err: unknown): string {
  const { code, errno } = (err ?? {}) as NodeJS.ErrnoException;
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  const words = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return words ? `${code} (${words})` : code;
}

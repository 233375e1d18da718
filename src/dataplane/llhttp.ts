// Node's own llhttp binding (the HTTPParser behind node:http), shared by the client-side front and the
// upstream client, with the field checks node:http applies before it writes a head.

import { createRequire } from 'node:module';

/** One parser; its callbacks are numbered slots on the object. */
export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  /** Read `handle` from native code (no stream, no Buffer per read); kOnExecute reports each read's result. */
  consume(handle: StreamHandle): void;
  unconsume(): void;
  /** During kOnExecute: a copy of the bytes that read delivered. */
  getCurrentBuffer(): Buffer;
  [slot: number]: unknown;
}

/** A socket's native stream handle (what node:http hands its parser). */
export interface StreamHandle {
  readonly isStreamBase?: boolean;
  _consumed?: boolean;
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

export interface LlhttpParserClass {
  new (): LlhttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

function load(): { HTTPParser: LlhttpParserClass; methods: readonly string[] } {
  const mod = createRequire(import.meta.url)('_http_common') as { HTTPParser?: LlhttpParserClass; methods?: string[] };
  if (typeof mod.HTTPParser !== 'function' || !Array.isArray(mod.methods)) {
    throw Object.assign(new Error('node:http does not expose its llhttp parser on this Node.js version'), { code: 'PORTICO_ERR_NO_LLHTTP' });
  }
  return { HTTPParser: mod.HTTPParser, methods: mod.methods };
}

const loaded = load();
export const HTTPParser: LlhttpParserClass = loaded.HTTPParser;
/** Request methods by the index the parser reports. */
export const METHODS: readonly string[] = loaded.methods;

/** Free a parser's native half; called once its current parse has unwound (setImmediate), as node:http does. */
export function closeParser(p: LlhttpParser): void {
  p.close();
}

/** A field name node:http accepts (an RFC 9110 token). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value character that could end the line early (response splitting, request smuggling). */
export const INVALID_FIELD_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;

export function codedError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** Null when the field can be written as it is; otherwise the error node:http would throw. */
export function fieldError(name: string, value: string): NodeJS.ErrnoException | null {
  if (!FIELD_NAME.test(name)) return codedError('ERR_INVALID_HTTP_TOKEN', `invalid field name "${name}"`);
  if (INVALID_FIELD_VALUE.test(value)) return codedError('ERR_INVALID_CHAR', `invalid character in field "${name}"`);
  return null;
}

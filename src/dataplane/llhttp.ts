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
  readonly prototype: LlhttpParser;
}

/**
 * What of Node's private HTTP internals this process has, checked once at load: `_http_common`'s
 * HTTPParser with the constants, methods and callback layout this code relies on (a real parse of a
 * request and a response, in strict mode), and the parts the HTTP/1.1 front uses to read a socket's
 * handle from native code (consume, unconsume, getCurrentBuffer, kOnExecute). Each field is undefined
 * when usable, else says what is missing; the serve process falls back to node:http where they are.
 */
export interface LlhttpSupport {
  readonly parser: string | undefined;
  readonly directRead: string | undefined;
}

interface CommonModule {
  HTTPParser?: LlhttpParserClass;
  methods?: string[];
}

function loadCommon(): CommonModule | string {
  try {
    return createRequire(import.meta.url)('_http_common') as CommonModule;
  } catch (err) {
    return `_http_common cannot be loaded (${(err as Error).message})`;
  }
}

const SLOTS = ['REQUEST', 'RESPONSE', 'kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kLenientNone'] as const;

/** The parser's answer to a known request and response, compared with what this code expects of it. */
function parserProblem(mod: CommonModule): string | undefined {
  const P = mod.HTTPParser;
  if (typeof P !== 'function') return '_http_common has no HTTPParser';
  if (!Array.isArray(mod.methods) || mod.methods.indexOf('GET') < 0) return '_http_common has no methods list';
  for (const k of SLOTS) if (typeof P[k] !== 'number') return `HTTPParser.${k} is not a number`;
  for (const m of ['initialize', 'execute', 'finish', 'close'] as const) if (typeof P.prototype[m] !== 'function') return `HTTPParser#${m} is missing`;
  const seen: unknown[][] = [];
  let body = '';
  let complete = 0;
  const run = (type: number, text: string): number | Error => {
    const p = new P();
    p.initialize(type, {}, 16 * 1024, P.kLenientNone);
    p[P.kOnMessageBegin] = () => {};
    p[P.kOnHeaders] = () => {};
    p[P.kOnHeadersComplete] = (...args: unknown[]) => {
      seen.push(args);
      return 0;
    };
    p[P.kOnBody] = (b: Buffer) => (body += b.toString('latin1'));
    p[P.kOnMessageComplete] = () => complete++;
    try {
      return p.execute(Buffer.from(text, 'latin1'));
    } finally {
      p.close();
    }
  };
  const request = 'POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok';
  if (run(P.REQUEST, request) !== request.length) return 'HTTPParser does not parse a plain request';
  const [major, minor, headers, method, url, , , upgrade, keepAlive] = seen[0] ?? [];
  if (major !== 1 || minor !== 1 || url !== '/x?y' || mod.methods[method as number] !== 'POST' || upgrade !== false || keepAlive !== true
    || JSON.stringify(headers) !== '["Host","a","Content-Length","2"]' || body !== 'ok' || complete !== 1) {
    return 'HTTPParser reports a request in a layout this code does not know';
  }
  const response = 'HTTP/1.1 204 No Content\r\nX: y\r\n\r\n';
  if (run(P.RESPONSE, response) !== response.length || seen[1]?.[5] !== 204) return 'HTTPParser reports a response in a layout this code does not know';
  // strict mode: both framing fields on one request must be an error (HARDENING §2.1)
  if (!(run(P.REQUEST, 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n') instanceof Error)) {
    return 'HTTPParser is not strict about framing';
  }
  return undefined;
}

function probe(): { support: LlhttpSupport; HTTPParser: LlhttpParserClass | undefined; methods: readonly string[] } {
  const mod = loadCommon();
  if (typeof mod === 'string') return { support: { parser: mod, directRead: mod }, HTTPParser: undefined, methods: [] };
  let parser: string | undefined;
  try {
    parser = parserProblem(mod);
  } catch (err) {
    parser = `HTTPParser failed its self-test (${(err as Error).message})`;
  }
  if (parser !== undefined) return { support: { parser, directRead: parser }, HTTPParser: undefined, methods: [] };
  const P = mod.HTTPParser!;
  let directRead: string | undefined;
  if (typeof P.kOnExecute !== 'number') directRead = 'HTTPParser.kOnExecute is not a number';
  for (const m of ['consume', 'unconsume', 'getCurrentBuffer'] as const) {
    if (directRead === undefined && typeof P.prototype[m] !== 'function') directRead = `HTTPParser#${m} is missing`;
  }
  return { support: { parser: undefined, directRead }, HTTPParser: P, methods: mod.methods! };
}

const probed = probe();
export const LLHTTP_SUPPORT: LlhttpSupport = probed.support;

/** Thrown where the parser is needed but this Node.js does not offer it in a shape this code knows. */
export class NoLlhttpError extends Error {
  readonly code = 'PORTICO_ERR_NO_LLHTTP';
}

/** The parser class; reading it where LLHTTP_SUPPORT.parser names a problem throws NoLlhttpError. */
export const HTTPParser: LlhttpParserClass = probed.HTTPParser ?? new Proxy({} as LlhttpParserClass, {
  get(): never {
    throw new NoLlhttpError(`node:http's llhttp parser is not usable on this Node.js: ${LLHTTP_SUPPORT.parser ?? ''}`);
  },
});
/** Request methods by the index the parser reports. */
export const METHODS: readonly string[] = probed.methods;
/** The callback slots, read once by the modules that parse; placeholders where there is no parser (nothing parses then). */
export const PARSER_SLOTS: Pick<LlhttpParserClass, 'kOnMessageBegin' | 'kOnHeaders' | 'kOnHeadersComplete' | 'kOnBody' | 'kOnMessageComplete' | 'kOnExecute'> =
  probed.HTTPParser ?? { kOnMessageBegin: -1, kOnHeaders: -1, kOnHeadersComplete: -1, kOnBody: -1, kOnMessageComplete: -1, kOnExecute: -1 };

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

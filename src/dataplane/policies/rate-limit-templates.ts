// The header and body templates of Edge Stack RateLimits (injectRequestHeaders,
// injectResponseHeaders, errorResponse): the part of Go's text/template that reads a field.
//
// A template is text with `{{ .Field }}` or `{{ .Field.Sub }}` actions. Anything else (functions,
// pipelines, conditionals) is refused when the configuration is compiled, never at request time.

export type TemplatePart = string | readonly string[];

/** A parsed template: literal text and field paths, in order. */
export interface ParsedTemplate {
  readonly parts: readonly TemplatePart[];
}

/** The fields a template may read, and what they hold (docs/reference/policies.md). */
export const TEMPLATE_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  'RateLimitResponse.OverallCode': '1 when the request is within its limits, 2 when over',
  RetryAfter: 'time until every limit admits a request again, as Go prints a duration ("1m30s", "0s")',
  'RetryAfter.Seconds': 'the same in seconds',
  status_code: 'the status of the error response (errorResponse only)',
  message: 'the error message (errorResponse only)',
  request_id: 'the request id (errorResponse only)',
});

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/gs;
const FIELD = /^\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/;

/** Parses `text`; a string says what is not supported. `errorOnly` fields are allowed when `forError`. */
export function parseTemplate(text: string, forError: boolean): ParsedTemplate | string {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of text.matchAll(ACTION)) {
    const at = m.index ?? 0;
    if (at > last) parts.push(text.slice(last, at));
    last = at + m[0].length;
    const f = FIELD.exec(m[1] ?? '');
    if (f === null) return `"{{ ${m[1] ?? ''} }}" is not supported: a template may only read a field, e.g. {{ .RetryAfter }}`;
    const path = f[1] as string;
    if (!(path in TEMPLATE_FIELDS)) return `field .${path} is unknown (known: ${Object.keys(TEMPLATE_FIELDS).map((k) => '.' + k).join(', ')})`;
    if (!forError && (path === 'status_code' || path === 'message' || path === 'request_id')) return `field .${path} is only known in errorResponse`;
    parts.push(path.split('.'));
  }
  if (text.slice(last).includes('{{')) return 'an unclosed "{{"';
  if (last < text.length) parts.push(text.slice(last));
  return { parts };
}

/** What a template reads for one request. */
export interface TemplateData {
  readonly overallCode: 1 | 2;
  readonly retryAfterMs: number;
  readonly statusCode?: number;
  readonly message?: string;
  readonly requestId?: string;
}

/** Go's time.Duration text for whole milliseconds: "0s", "1.5s", "2m30s", "1h0m0s". */
export function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  if (ms < 1000) return `${ms}ms`;
  return sec;
}

function field(path: readonly string[], d: TemplateData): string {
  switch (path.join('.')) {
    case 'RateLimitResponse.OverallCode':
      return String(d.overallCode);
    case 'RetryAfter':
      return goDuration(d.retryAfterMs);
    case 'RetryAfter.Seconds':
      return String(d.retryAfterMs / 1000);
    case 'status_code':
      return String(d.statusCode ?? '');
    case 'message':
      return d.message ?? '';
    case 'request_id':
      return d.requestId ?? '';
    default:
      return '';
  }
}

export function renderTemplate(t: ParsedTemplate, d: TemplateData): string {
  if (t.parts.length === 1 && typeof t.parts[0] === 'string') return t.parts[0];
  let out = '';
  for (const p of t.parts) out += typeof p === 'string' ? p : field(p, d);
  return out;
}

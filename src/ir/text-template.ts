// The subset of Go's text/template that Edge Stack filter templates use (injectRequestHeaders,
// errorResponse): parsed once at compile, where a bad template is a problem, and run per request.
//
// Supported: text and `{{ pipeline }}` actions with `{{-`/`-}}` trimming and comments; `if` /
// `else if` / `else` / `end`; field chains (`.token.Claims.sub`), string, number and boolean
// literals, parentheses, pipes (`x | f a` calls `f a x`); the functions in FUNCTIONS below and the
// header method `.httpRequestHeader.Get "Name"`. No `range`, `with`, variables or `define`, so a
// template runs in time bounded by its size. Values print as Go prints them (`1.516239022e+09`).

/** A template too long to be a header value or an error body is refused at compile. */
export const MAX_TEMPLATE_LENGTH = 16_384;
/** What one run may produce; more is an error (a header or body that large is a mistake). */
export const MAX_TEMPLATE_OUTPUT = 65_536;
const MAX_DEPTH = 32;

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Raised by `doNotSet`: the caller leaves the header alone. */
export class DoNotSet extends Error {
  constructor() {
    super('doNotSet');
    this.name = 'DoNotSet';
  }
}

/** The request's headers as a template sees them: `.httpRequestHeader.Get "X"` reads one. */
export interface TemplateHeaders {
  get(name: string): string | undefined;
}

const HEADERS = Symbol('headers');
/** Wraps the request's headers for the data of a template. */
export function templateHeaders(h: TemplateHeaders): object {
  return { [HEADERS]: h };
}

type Node =
  | { readonly t: 'text'; readonly text: string }
  | { readonly t: 'out'; readonly pipe: Pipeline }
  | { readonly t: 'if'; readonly cond: Pipeline; readonly then: readonly Node[]; readonly else: readonly Node[] };

type Pipeline = readonly Command[];
type Command = readonly Operand[];
type Operand =
  | { readonly t: 'field'; readonly path: readonly string[] }
  | { readonly t: 'lit'; readonly value: unknown }
  | { readonly t: 'fn'; readonly name: string }
  | { readonly t: 'sub'; readonly pipe: Pipeline };

export interface ParsedTemplate {
  readonly source: string;
  readonly nodes: readonly Node[];
  /** True when the template is plain text: running it returns the source. */
  readonly constant: boolean;
}

interface FnDef {
  readonly run: (args: unknown[]) => unknown;
  /** Only where the data allows it (json in error bodies). */
  readonly scope?: 'body';
}

const FUNCTIONS: Readonly<Record<string, FnDef>> = {
  not: { run: (a) => !truth(arity('not', a, 1)[0]) },
  and: { run: (a) => atLeast('and', a, 1).find((v) => !truth(v)) ?? a[a.length - 1] },
  or: { run: (a) => atLeast('or', a, 1).find((v) => truth(v)) ?? a[a.length - 1] },
  eq: { run: (a) => atLeast('eq', a, 2).slice(1).some((v) => same(a[0], v)) },
  ne: { run: (a) => !same(...(arity('ne', a, 2) as [unknown, unknown])) },
  lt: { run: (a) => compare('lt', a) < 0 },
  le: { run: (a) => compare('le', a) <= 0 },
  gt: { run: (a) => compare('gt', a) > 0 },
  ge: { run: (a) => compare('ge', a) >= 0 },
  len: { run: (a) => length(arity('len', a, 1)[0]) },
  index: { run: (a) => indexInto(atLeast('index', a, 1)) },
  print: { run: (a) => a.map((v, i) => (i > 0 && typeof v !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + show(v)).join('') },
  println: { run: (a) => `${a.map(show).join(' ')}\n` },
  printf: { run: (a) => printf(atLeast('printf', a, 1)) },
  urlquery: { run: (a) => encodeURIComponent(a.map(show).join('')) },
  hasKey: { run: (a) => hasKey(...(arity('hasKey', a, 2) as [unknown, unknown])) },
  doNotSet: {
    run: () => {
      throw new DoNotSet();
    },
  },
  json: { run: (a) => jsonWithIndent(...(arity('json', a, 2) as [unknown, unknown])), scope: 'body' },
};

/** Functions a header template may call (error bodies may also call `json`). */
export const HEADER_FUNCTIONS = Object.keys(FUNCTIONS).filter((n) => FUNCTIONS[n]!.scope === undefined);

/**
 * Parse a template. `allowBody` admits the functions only error bodies have. Throws TemplateError
 * with a message that names what is wrong and where (the character offset).
 */
export function parseTemplate(source: string, allowBody = false): ParsedTemplate {
  if (source.length > MAX_TEMPLATE_LENGTH) throw new TemplateError(`the template is ${source.length} characters long; at most ${MAX_TEMPLATE_LENGTH}`);
  const p = new Parser(source, allowBody);
  const nodes = p.parseList(true);
  return { source, nodes, constant: nodes.every((n) => n.t === 'text') };
}

/** Run a parsed template against `data`. Throws TemplateError, or DoNotSet when the template calls it. */
export function runTemplate(tpl: ParsedTemplate, data: unknown): string {
  if (tpl.constant) return tpl.nodes.map((n) => (n.t === 'text' ? n.text : '')).join('');
  const out: string[] = [];
  const size = { n: 0 };
  runNodes(tpl.nodes, data, out, size);
  return out.join('');
}

function runNodes(nodes: readonly Node[], data: unknown, out: string[], size: { n: number }): void {
  for (const n of nodes) {
    let s: string;
    if (n.t === 'text') s = n.text;
    else if (n.t === 'out') s = show(evalPipe(n.pipe, data));
    else {
      runNodes(truth(evalPipe(n.cond, data)) ? n.then : n.else, data, out, size);
      continue;
    }
    size.n += s.length;
    if (size.n > MAX_TEMPLATE_OUTPUT) throw new TemplateError(`the template produced more than ${MAX_TEMPLATE_OUTPUT} characters`);
    out.push(s);
  }
}

function evalPipe(pipe: Pipeline, data: unknown): unknown {
  let prev: unknown;
  let first = true;
  for (const cmd of pipe) {
    prev = evalCommand(cmd, data, first ? [] : [prev]);
    first = false;
  }
  return prev;
}

function evalCommand(cmd: Command, data: unknown, piped: unknown[]): unknown {
  const head = cmd[0]!;
  const args = (): unknown[] => [...cmd.slice(1).map((o) => evalOperand(o, data)), ...piped];
  if (head.t === 'fn') return FUNCTIONS[head.name]!.run(args());
  if (head.t === 'field' && head.path.length > 0 && head.path[head.path.length - 1] === 'Get') {
    const target = fieldAt(data, head.path.slice(0, -1));
    if (isHeaders(target)) {
      const a = args();
      if (a.length !== 1 || typeof a[0] !== 'string') throw new TemplateError('.Get takes one header name');
      return target[HEADERS].get(a[0]) ?? '';
    }
  }
  if (cmd.length > 1 || piped.length > 0) throw new TemplateError(`${describe(head)} is not a function and takes no arguments`);
  return evalOperand(head, data);
}

function evalOperand(o: Operand, data: unknown): unknown {
  switch (o.t) {
    case 'lit':
      return o.value;
    case 'field':
      return fieldAt(data, o.path);
    case 'sub':
      return evalPipe(o.pipe, data);
    case 'fn':
      return FUNCTIONS[o.name]!.run([]);
  }
}

/** A missing key gives undefined (printed "<no value>", as Go prints a missing map key). */
function fieldAt(data: unknown, path: readonly string[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === undefined || v === null) throw new TemplateError(`nil value evaluating .${path.join('.')}`);
    if (typeof v !== 'object' || Array.isArray(v) || isHeaders(v)) throw new TemplateError(`cannot read field ${k} of a ${kindOf(v)} in .${path.join('.')}`);
    v = Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
  }
  return v;
}

function isHeaders(v: unknown): v is { [HEADERS]: TemplateHeaders } {
  return typeof v === 'object' && v !== null && HEADERS in v;
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v === null) return 'nil';
  if (isHeaders(v)) return 'header set';
  return typeof v === 'object' ? 'map' : typeof v;
}

function describe(o: Operand): string {
  if (o.t === 'field') return `.${o.path.join('.')}`;
  if (o.t === 'lit') return JSON.stringify(o.value);
  return 'a value';
}

// --- values, as Go's text/template sees them ---------------------------------------------------

function truth(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && !isHeaders(v)) return Object.keys(v).length > 0;
  return true;
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'object' && a !== null) throw new TemplateError('eq/ne compare strings, numbers and booleans only');
  return a === b;
}

function compare(name: string, a: unknown[]): number {
  const [x, y] = arity(name, a, 2);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  throw new TemplateError(`${name} compares two numbers or two strings`);
}

function length(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (typeof v === 'object' && v !== null && !isHeaders(v)) return Object.keys(v).length;
  throw new TemplateError(`len of a ${kindOf(v)}`);
}

function indexInto(a: unknown[]): unknown {
  let v = a[0];
  for (const k of a.slice(1)) {
    if (Array.isArray(v) && typeof k === 'number' && Number.isInteger(k)) {
      if (k < 0 || k >= v.length) throw new TemplateError(`index ${k} out of range`);
      v = v[k];
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && !isHeaders(v) && typeof k === 'string') {
      v = Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
    } else if (v === undefined || v === null) return undefined;
    else throw new TemplateError(`cannot index a ${kindOf(v)} with ${JSON.stringify(k)}`);
  }
  return v;
}

function hasKey(m: unknown, k: unknown): boolean {
  if (typeof k !== 'string') throw new TemplateError('hasKey takes a map and a string');
  if (m === undefined || m === null) return false;
  if (typeof m !== 'object' || Array.isArray(m) || isHeaders(m)) throw new TemplateError(`hasKey of a ${kindOf(m)}`);
  return Object.prototype.hasOwnProperty.call(m, k);
}

function jsonWithIndent(indent: unknown, v: unknown): string {
  if (typeof indent !== 'string') throw new TemplateError('json takes an indent string, then a value');
  const text = JSON.stringify(v === undefined ? null : v, null, indent === '' ? undefined : '    ');
  // Go's json.MarshalIndent(v, prefix, "    "): every line after the first starts with the prefix.
  return indent === '' ? text : text.split('\n').join(`\n${indent}`);
}

function arity(name: string, a: unknown[], n: number): unknown[] {
  if (a.length !== n) throw new TemplateError(`${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${a.length}`);
  return a;
}

function atLeast(name: string, a: unknown[], n: number): unknown[] {
  if (a.length < n) throw new TemplateError(`${name} takes at least ${n} argument${n === 1 ? '' : 's'}, got ${a.length}`);
  return a;
}

/** Go's %v. */
export function show(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (isHeaders(v)) return 'map[]';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${show(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** A float64 as Go's %v prints it: shortest digits, exponent form from 1e6 up and below 1e-4. */
export function goFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const e = f.toExponential(); // shortest round-trip digits, e.g. "1.516239022e+9"
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  const digits = m[2]! + (m[3] ?? '');
  const exp = Number(m[4]);
  // strconv.FormatFloat(f, 'g', -1, 64): %e when exp < -4 || exp >= 6 (the shortest precision
  // counts as 6), so a JSON number like 1516239022 prints 1.516239022e+09, as in Edge Stack.
  if (exp < -4 || exp >= 6) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ee = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
    return `${m[1]}${mant}e${exp < 0 ? '-' : '+'}${ee}`;
  }
  if (exp >= digits.length - 1) return `${m[1]}${digits}${'0'.repeat(exp - digits.length + 1)}`;
  if (exp >= 0) return `${m[1]}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  return `${m[1]}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/** fmt.Sprintf for the verbs templates use: %s %v %d %f %.Nf %g %q %x %t %%. */
function printf(a: unknown[]): string {
  const format = a[0];
  if (typeof format !== 'string') throw new TemplateError('printf takes a format string first');
  let i = 1;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_all, _flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (i >= a.length) return `%!${verb}(MISSING)`;
    const v = a[i++];
    let s: string;
    switch (verb) {
      case 'v':
      case 's':
        s = show(v);
        break;
      case 'd':
        s = typeof v === 'number' && Number.isInteger(v) ? String(v) : `%!d(${kindOf(v)}=${show(v)})`;
        break;
      case 'f':
      case 'F':
        s = typeof v === 'number' ? v.toFixed(prec === undefined ? 6 : Math.min(Number(prec), 20)) : `%!f(${kindOf(v)}=${show(v)})`;
        break;
      case 'g':
        s = typeof v === 'number' ? goFloat(v) : `%!g(${kindOf(v)}=${show(v)})`;
        break;
      case 'q':
        s = typeof v === 'string' ? JSON.stringify(v) : `%!q(${kindOf(v)}=${show(v)})`;
        break;
      case 'x':
        s = typeof v === 'string' ? Buffer.from(v).toString('hex') : typeof v === 'number' && Number.isInteger(v) ? v.toString(16) : `%!x(${kindOf(v)}=${show(v)})`;
        break;
      case 't':
        s = typeof v === 'boolean' ? String(v) : `%!t(${kindOf(v)}=${show(v)})`;
        break;
      default:
        s = `%!${verb}(${kindOf(v)}=${show(v)})`;
    }
    const w = width === undefined ? 0 : Math.min(Number(width), 256);
    return s.length < w ? ' '.repeat(w - s.length) + s : s;
  });
}

// --- parser -------------------------------------------------------------------------------------

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly allowBody: boolean,
  ) {}

  /** Nodes up to the end of input (top) or up to an {{else}} / {{end}} (left for the caller). */
  parseList(top: boolean): Node[] {
    const nodes: Node[] = [];
    let trimNext = false;
    while (this.pos < this.src.length) {
      const open = this.src.indexOf('{{', this.pos);
      let text = this.src.slice(this.pos, open < 0 ? this.src.length : open);
      if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
      trimNext = false;
      if (open < 0) {
        if (text !== '') nodes.push({ t: 'text', text });
        this.pos = this.src.length;
        break;
      }
      const trimLeft = this.src.startsWith('{{- ', open) || this.src.startsWith('{{-\t', open) || this.src.startsWith('{{-\n', open);
      if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
      if (text !== '') nodes.push({ t: 'text', text });
      const actionStart = open + (trimLeft ? 3 : 2);
      const close = this.findClose(actionStart);
      const trimRight = close > actionStart && /[ \t\r\n]-$/.test(this.src.slice(actionStart - 1, close));
      const body = this.src.slice(actionStart, trimRight ? close - 1 : close).trim();
      const at = open;
      this.pos = close + 2;
      trimNext = trimRight;
      if (body.startsWith('/*')) {
        if (!body.endsWith('*/')) throw this.error('unclosed comment', at);
        continue;
      }
      const word = /^[a-z]+/.exec(body)?.[0];
      if (word === 'end' && body === 'end') {
        if (top) throw this.error('{{end}} without {{if}}', at);
        this.pos = open;
        return nodes;
      }
      if (word === 'else' && (body === 'else' || body.startsWith('else if '))) {
        if (top) throw this.error('{{else}} without {{if}}', at);
        this.pos = open;
        return nodes;
      }
      if (word === 'if' && /^if\s/.test(body)) {
        nodes.push(this.parseIf(body.slice(3), at));
        // the {{end}} that closed the if may ask to trim what follows it
        trimNext = this.lastEndTrims;
        continue;
      }
      if (word !== undefined && ['range', 'with', 'define', 'template', 'block', 'break', 'continue'].includes(word) && /^[a-z]+(\s|$)/.test(body)) {
        throw this.error(`{{${word}}} is not supported in Portico templates (supported: if, else, end, pipelines)`, at);
      }
      if (body === '') throw this.error('empty action {{}}', at);
      nodes.push({ t: 'out', pipe: this.parsePipeline(body, at) });
    }
    if (!top) throw this.error('{{if}} without {{end}}', this.src.length);
    return nodes;
  }

  private lastEndTrims = false;

  private parseIf(condText: string, at: number): Node {
    if (++this.depth > MAX_DEPTH) throw this.error(`{{if}} nested more than ${MAX_DEPTH} deep`, at);
    const cond = this.parsePipeline(condText, at);
    const then = this.parseList(false);
    const { body, trimRight } = this.readMarker();
    let els: Node[] = [];
    if (body === 'else') {
      els = this.parseList(false);
      const end = this.readMarker();
      if (end.body !== 'end') throw this.error('expected {{end}}', this.pos);
      this.lastEndTrims = end.trimRight;
    } else if (body.startsWith('else if ')) {
      // `else if` is an if inside the else branch that shares its {{end}}
      this.depth--;
      const nested = this.parseIfChain(body.slice(8), at);
      els = [nested];
    } else {
      this.lastEndTrims = trimRight;
    }
    this.depth--;
    return { t: 'if', cond, then, else: els };
  }

  private parseIfChain(condText: string, at: number): Node {
    return this.parseIf(condText, at);
  }

  /** Reads the {{else}} / {{else if ...}} / {{end}} the list stopped at. */
  private readMarker(): { body: string; trimRight: boolean } {
    const open = this.pos;
    const trimLeft = this.src.startsWith('{{-', open);
    const start = open + (trimLeft ? 3 : 2);
    const close = this.findClose(start);
    const trimRight = /[ \t\r\n]-$/.test(this.src.slice(start - 1, close));
    const body = this.src.slice(start, trimRight ? close - 1 : close).trim();
    this.pos = close + 2;
    return { body, trimRight };
  }

  private findClose(from: number): number {
    let i = from;
    while (i < this.src.length) {
      const c = this.src[i];
      if (c === '"' || c === '`') {
        i = this.skipString(i);
        continue;
      }
      if (c === '}' && this.src[i + 1] === '}') return i;
      i++;
    }
    throw this.error('unclosed action: {{ without }}', from);
  }

  private skipString(i: number): number {
    const q = this.src[i];
    let j = i + 1;
    while (j < this.src.length && this.src[j] !== q) {
      if (q === '"' && this.src[j] === '\\') j++;
      j++;
    }
    if (j >= this.src.length) throw this.error('unterminated string', i);
    return j + 1;
  }

  private parsePipeline(text: string, at: number): Pipeline {
    const tokens = tokenize(text, (m) => this.error(m, at));
    const pos = { i: 0 };
    const pipe = this.pipeline(tokens, pos, at);
    if (pos.i < tokens.length) throw this.error(`unexpected ${tokens[pos.i]!.text}`, at);
    return pipe;
  }

  private pipeline(tokens: Token[], pos: { i: number }, at: number): Pipeline {
    const cmds: Command[] = [];
    for (;;) {
      const cmd: Operand[] = [];
      while (pos.i < tokens.length && tokens[pos.i]!.kind !== '|' && tokens[pos.i]!.kind !== ')') cmd.push(this.operand(tokens, pos, at));
      if (cmd.length === 0) throw this.error('missing value in pipeline', at);
      const head = cmd[0]!;
      if (cmd.length > 1 && head.t !== 'fn' && !(head.t === 'field' && head.path[head.path.length - 1] === 'Get')) {
        throw this.error(`${describe(head)} is not a function and takes no arguments`, at);
      }
      if (cmds.length > 0 && head.t !== 'fn' && !(head.t === 'field' && head.path[head.path.length - 1] === 'Get')) {
        throw this.error(`cannot pipe into ${describe(head)}: it is not a function`, at);
      }
      cmds.push(cmd);
      if (pos.i < tokens.length && tokens[pos.i]!.kind === '|') {
        pos.i++;
        continue;
      }
      return cmds;
    }
  }

  private operand(tokens: Token[], pos: { i: number }, at: number): Operand {
    const tok = tokens[pos.i++]!;
    switch (tok.kind) {
      case 'field':
        return { t: 'field', path: tok.text === '.' ? [] : tok.text.slice(1).split('.') };
      case 'string':
        return { t: 'lit', value: tok.value };
      case 'number':
        return { t: 'lit', value: tok.value };
      case 'ident': {
        if (tok.text === 'true' || tok.text === 'false') return { t: 'lit', value: tok.text === 'true' };
        if (tok.text === 'nil') return { t: 'lit', value: null };
        const fn = FUNCTIONS[tok.text];
        if (fn === undefined || (fn.scope === 'body' && !this.allowBody)) {
          const known = Object.keys(FUNCTIONS).filter((n) => FUNCTIONS[n]!.scope === undefined || this.allowBody);
          throw this.error(`function "${tok.text}" not defined (known: ${known.join(', ')})`, at);
        }
        return { t: 'fn', name: tok.text };
      }
      case '(': {
        if (++this.depth > MAX_DEPTH) throw this.error(`parentheses nested more than ${MAX_DEPTH} deep`, at);
        const pipe = this.pipeline(tokens, pos, at);
        if (tokens[pos.i]?.kind !== ')') throw this.error('unclosed (', at);
        pos.i++;
        this.depth--;
        return { t: 'sub', pipe };
      }
      default:
        throw this.error(`unexpected ${tok.text}`, at);
    }
  }

  private error(message: string, at: number): TemplateError {
    return new TemplateError(`${message} (at character ${at + 1})`);
  }
}

interface Token {
  readonly kind: 'field' | 'string' | 'number' | 'ident' | '|' | '(' | ')';
  readonly text: string;
  readonly value?: unknown;
}

function tokenize(text: string, fail: (m: string) => TemplateError): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '|' || c === '(' || c === ')') {
      out.push({ kind: c, text: c });
      i++;
      continue;
    }
    if (c === '.') {
      const m = /^\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?/.exec(text.slice(i))!;
      out.push({ kind: 'field', text: m[0] });
      i += m[0].length;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw fail('unterminated string');
      const lit = text.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(lit.replace(/\\'/g, "'")) as string;
      } catch {
        throw fail(`bad string literal ${lit}`);
      }
      out.push({ kind: 'string', text: lit, value });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) throw fail('unterminated raw string');
      out.push({ kind: 'string', text: text.slice(i, j + 1), value: text.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const num = /^-?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)/.exec(text.slice(i));
    if (num !== null && (c === '-' || /\d/.test(c))) {
      out.push({ kind: 'number', text: num[0], value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (id !== null) {
      out.push({ kind: 'ident', text: id[0] });
      i += id[0].length;
      continue;
    }
    if (c === '$') throw fail('variables ($x) are not supported in Portico templates');
    throw fail(`unexpected character ${JSON.stringify(c)}`);
  }
  return out;
}

// Plan output for people and machines: text for a terminal, Markdown for a pull-request comment,
// JSON for tools. All three show the same facts in the same (deterministic) order.

import type { FieldChange, EntityDiff } from '../ir/diff.js';
import { PLAN_EXIT, type PlanProblem, type PlanResult, type PlanRoute } from './plan-engine.js';

const MAX_VALUE = 160;
/** GitHub refuses comments over 65536 characters. */
const MAX_MARKDOWN = 60_000;

export function valueText(v: unknown): string {
  if (v === undefined) return '(none)';
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    // Whole backends and owners read better by what they are than as JSON.
    const o = v as Record<string, unknown>;
    if (typeof o['cluster'] === 'string' && typeof o['weight'] === 'number') return `${o['cluster']} (weight ${o['weight']})`;
    if (typeof o['kind'] === 'string' && typeof o['name'] === 'string' && typeof o['namespace'] === 'string') return `${o['kind']} ${o['namespace']}/${o['name']}`;
  }
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s;
}

function changeText(c: FieldChange): string {
  return `${c.path}: ${valueText(c.before)} → ${valueText(c.after)}`;
}

function routeLine(r: PlanRoute): string {
  return `${r.hostname} ${r.match} → ${r.action}  [${r.id}, ${r.listener} :${r.port}]  ${r.at}`;
}

function problemLine(p: PlanProblem): string {
  return `${p.at}: ${p.severity}: ${p.message} [${p.code}]${p.resource ? ` (${p.resource})` : ''}${p.new ? '' : ' (already in base)'}`;
}

interface OtherSection {
  readonly title: string;
  readonly diff: EntityDiff;
}

function others(r: PlanResult): OtherSection[] {
  return [
    { title: 'listener', diff: r.other.listeners },
    { title: 'virtual host', diff: r.other.virtualHosts },
    { title: 'cluster', diff: r.other.clusters },
    { title: 'TLS context', diff: r.other.tlsContexts },
    { title: 'TCP route', diff: r.other.tcpRoutes },
    { title: 'resolver', diff: r.other.resolvers },
  ];
}

function verdictText(r: PlanResult): string {
  const v = r.verdict === 'problems' ? (r.refusals.length > 0 ? 'serve would refuse it' : 'head has new errors') : r.verdict === 'changes' ? 'changes' : 'no change';
  return `${v} (exit ${PLAN_EXIT[r.verdict]})`;
}

function summary(r: PlanResult): string {
  return `routes ${r.base.routes} → ${r.head.routes}: ${r.routes.added.length} added, ${r.routes.removed.length} removed, ${r.routes.changed.length} changed, ${r.shadowed.length} newly shadowed; head has ${r.head.errors} error(s), ${r.head.warnings} warning(s)`;
}

export function formatPlanText(r: PlanResult): string {
  const out: string[] = [];
  out.push(`plan: ${r.base.label} → ${r.head.label}`);
  out.push(summary(r));
  const section = (title: string, lines: string[]): void => {
    if (lines.length === 0) return;
    out.push('', title);
    out.push(...lines);
  };
  section(
    `Refused: serve would keep the base for these (${r.refusals.length})`,
    r.refusals.flatMap((x) => [`  ✗ ${x.source} ${x.revision.slice(0, 12)}: ${x.reason}: ${x.message}`, ...(x.remedy ? [`      way out: ${x.remedy}`] : [])]),
  );
  section(`Routes added (${r.routes.added.length})`, r.routes.added.map((x) => `  + ${routeLine(x)}`));
  section(`Routes removed (${r.routes.removed.length})`, r.routes.removed.map((x) => `  - ${routeLine(x)}`));
  section(
    `Routes changed (${r.routes.changed.length})`,
    r.routes.changed.flatMap((x) => [`  ~ ${routeLine(x)}`, ...x.changes.map((c) => `      ${changeText(c)}`)]),
  );
  section(
    `Newly shadowed routes (${r.shadowed.length})`,
    r.shadowed.map((s) => `  ! ${s.route.id} on ${s.route.hostname} (${s.route.match}) can never match: ${s.by.id} (${s.by.match}) comes first and matches every request it does  ${s.route.at}`),
  );
  section(
    `Requests whose answer changes (${r.requests.length})`,
    r.requests.flatMap((q) => [`  ${q.request}  [${q.listener}]`, `      before: ${q.before}`, `      after:  ${q.after}`]),
  );
  const other: string[] = [];
  for (const c of r.other.global) other.push(`  global ${changeText(c)}`);
  for (const o of others(r)) {
    for (const k of o.diff.added) other.push(`  + ${o.title} ${k}`);
    for (const k of o.diff.removed) other.push(`  - ${o.title} ${k}`);
    for (const c of o.diff.changed) for (const f of c.changes) other.push(`  ~ ${o.title} ${c.key} ${changeText(f)}`);
  }
  section('Other changes', other);
  section(`Conflicts (${r.conflicts.length})`, r.conflicts.map((p) => `  ${problemLine(p)}`));
  section(`Claim violations (${r.claimViolations.length})`, r.claimViolations.map((p) => `  ${problemLine(p)}`));
  const rest = r.problems.filter((p) => !r.conflicts.includes(p) && !r.claimViolations.includes(p));
  section(`Validation problems (${rest.length})`, rest.map((p) => `  ${problemLine(p)}`));
  section('Notes', r.notes.map((n) => `  ${n}`));
  out.push('', `verdict: ${verdictText(r)}`);
  return out.join('\n') + '\n';
}

/** Markdown table cell: pipes and newlines would break the table. */
function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function code(s: string): string {
  const t = cell(s);
  return t.includes('`') ? `<code>${t.replace(/</g, '&lt;')}</code>` : `\`${t}\``;
}

export function formatPlanMarkdown(r: PlanResult): string {
  const out: string[] = [];
  const icon = r.verdict === 'problems' ? '❌' : r.verdict === 'changes' ? '📝' : '✅';
  out.push(`### ${icon} Portico plan: ${r.verdict === 'problems' ? (r.refusals.length > 0 ? 'serve would refuse this change' : 'new errors') : r.verdict === 'changes' ? 'routing changes' : 'no change'}`);
  out.push('', `${code(r.base.label)} → ${code(r.head.label)}`, '', summary(r));
  const table = (title: string, head: string[], rows: string[][]): void => {
    if (rows.length === 0) return;
    out.push('', `#### ${title}`, '', `| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
    for (const row of rows) out.push(`| ${row.join(' | ')} |`);
  };
  table(
    `Refused: serve would keep the base for these (${r.refusals.length})`,
    ['Source', 'Revision', 'Why', 'Way out'],
    r.refusals.map((x) => [code(x.source), code(x.revision.slice(0, 12)), `${code(x.reason)} ${cell(x.message)}`, cell(x.remedy ?? '')]),
  );
  const routeRow = (x: PlanRoute): string[] => [code(x.hostname), code(x.match), cell(x.action), code(x.id), code(x.at)];
  table(`Routes added (${r.routes.added.length})`, ['Host', 'Match', 'Action', 'Route', 'Defined at'], r.routes.added.map(routeRow));
  table(`Routes removed (${r.routes.removed.length})`, ['Host', 'Match', 'Action', 'Route', 'Defined at'], r.routes.removed.map(routeRow));
  table(
    `Routes changed (${r.routes.changed.length})`,
    ['Route', 'Field', 'Before', 'After'],
    r.routes.changed.flatMap((x) => x.changes.map((c, i) => [i === 0 ? `${code(x.id)} on ${code(x.hostname)}<br>${code(x.at)}` : '', code(c.path), code(valueText(c.before)), code(valueText(c.after))])),
  );
  table(`Newly shadowed routes (${r.shadowed.length})`, ['Route', 'Can never match because', 'Defined at'], r.shadowed.map((s) => [`${code(s.route.id)} ${code(s.route.match)}`, `${code(s.by.id)} ${code(s.by.match)} comes first and matches every request it does`, code(s.route.at)]));
  table(`Requests whose answer changes (${r.requests.length})`, ['Request', 'Before', 'After'], r.requests.map((q) => [code(q.request), cell(q.before), cell(q.after)]));
  const other: string[][] = [];
  for (const c of r.other.global) other.push(['global', code(c.path), `${code(valueText(c.before))} → ${code(valueText(c.after))}`]);
  for (const o of others(r)) {
    for (const k of o.diff.added) other.push([`${o.title} ${code(k)}`, '', 'added']);
    for (const k of o.diff.removed) other.push([`${o.title} ${code(k)}`, '', 'removed']);
    for (const c of o.diff.changed) for (const f of c.changes) other.push([`${o.title} ${code(c.key)}`, code(f.path), `${code(valueText(f.before))} → ${code(valueText(f.after))}`]);
  }
  table('Other changes', ['What', 'Field', 'Change'], other);
  const probRows = (ps: readonly PlanProblem[]): string[][] => ps.map((p) => [p.severity === 'error' ? '❌ error' : '⚠️ warning', code(p.at), cell(p.message), code(p.code), p.new ? 'new' : 'already in base']);
  table(`Conflicts (${r.conflicts.length})`, ['Severity', 'Where', 'Problem', 'Code', ''], probRows(r.conflicts));
  table(`Claim violations (${r.claimViolations.length})`, ['Severity', 'Where', 'Problem', 'Code', ''], probRows(r.claimViolations));
  const rest = r.problems.filter((p) => !r.conflicts.includes(p) && !r.claimViolations.includes(p));
  table(`Validation problems (${rest.length})`, ['Severity', 'Where', 'Problem', 'Code', ''], probRows(rest));
  if (r.notes.length > 0) {
    out.push('', '#### Notes', '');
    for (const n of r.notes) out.push(`- ${cell(n)}`);
  }
  const footer = `<sub>verdict: ${verdictText(r)} · base ${r.base.hash.slice(0, 12)} · head ${r.head.hash.slice(0, 12)}</sub>`;
  let text = out.join('\n');
  // Pull-request comments are limited in size; a huge plan is cut at a line, and says so.
  if (text.length > MAX_MARKDOWN) {
    text = text.slice(0, text.lastIndexOf('\n', MAX_MARKDOWN)) + '\n\n_The plan is too long for a comment and was cut here; run `portico plan` for all of it._';
  }
  return `${text}\n\n${footer}\n`;
}

export function formatPlanJSON(r: PlanResult): string {
  return JSON.stringify({ ...r, exitCode: PLAN_EXIT[r.verdict] }, null, 2) + '\n';
}

// Route test results as TAP 13, JUnit XML or plain text. Failures show expected and actual side by
// side per field, so a reviewer sees what changed without reading the configuration.

import type { RouteTestResult, TestFileProblem } from './route-tests.js';

function show(v: unknown): string {
  return v === null ? 'none' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** The readable diff of one failed test, one line per field. */
export function failureLines(r: RouteTestResult): string[] {
  if (r.error !== undefined) return [`error: ${r.error}`];
  const w = Math.max(...r.mismatches.map((m) => m.field.length), 5);
  const out: string[] = [];
  for (const m of r.mismatches) {
    out.push(`${m.field.padEnd(w)}  - expected: ${show(m.expected)}`);
    out.push(`${''.padEnd(w)}  + actual:   ${show(m.actual)}`);
  }
  return out;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

export function formatTap(results: readonly RouteTestResult[], problems: readonly TestFileProblem[]): string {
  const out = ['TAP version 13', `1..${results.length + problems.length}`];
  let n = 0;
  for (const p of problems) out.push(`not ok ${++n} - ${p.file}:${p.line}:${p.col} ${p.message}`, '  ---', `  message: ${yamlString(p.message)}`, `  at: ${yamlString(`${p.file}:${p.line}:${p.col}`)}`, '  ...');
  for (const r of results) {
    const title = `${r.test.name.replace(/#/g, '\\#')} (${r.test.file}:${r.test.line})`;
    if (r.ok) {
      out.push(`ok ${++n} - ${title}${r.unchecked !== undefined ? ` # SKIP ${r.unchecked.replace(/#/g, '\\#')}` : ''}`);
      continue;
    }
    out.push(`not ok ${++n} - ${title}`, '  ---', `  request: ${yamlString(`${r.test.request.method} ${r.test.request.scheme}://${r.test.request.authority}${r.test.request.target}`)}`, `  observed: ${yamlString(r.observed)}`);
    if (r.error !== undefined) out.push(`  error: ${yamlString(r.error)}`);
    if (r.mismatches.length > 0) {
      out.push('  mismatches:');
      for (const m of r.mismatches) out.push(`    - field: ${m.field}`, `      expected: ${yamlString(show(m.expected))}`, `      actual: ${yamlString(show(m.actual))}`);
    }
    out.push('  ...');
  }
  const failed = results.filter((r) => !r.ok).length + problems.length;
  out.push(`# tests ${results.length + problems.length}`, `# pass ${results.length - results.filter((r) => !r.ok).length}`, `# fail ${failed}`);
  return out.join('\n') + '\n';
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[^\t\n\r\u0020-\uffff]/g, '');
}

export function formatJUnit(results: readonly RouteTestResult[], problems: readonly TestFileProblem[]): string {
  const files = [...new Set([...problems.map((p) => p.file), ...results.map((r) => r.test.file)])];
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failures = results.filter((r) => !r.ok).length + problems.length;
  out.push(`<testsuites name="portico route tests" tests="${results.length + problems.length}" failures="${failures}">`);
  for (const f of files) {
    const rs = results.filter((r) => r.test.file === f);
    const ps = problems.filter((p) => p.file === f);
    out.push(`  <testsuite name="${xml(f)}" tests="${rs.length + ps.length}" failures="${rs.filter((r) => !r.ok).length + ps.length}">`);
    for (const p of ps) {
      out.push(`    <testcase classname="${xml(f)}" name="${xml(`${f}:${p.line}:${p.col}`)}">`, `      <failure message="${xml(p.message)}" type="invalid-test-file"/>`, '    </testcase>');
    }
    for (const r of rs) {
      const open = `    <testcase classname="${xml(f)}" name="${xml(r.test.name)}" file="${xml(f)}" line="${r.test.line}">`;
      if (r.ok && r.unchecked !== undefined) {
        out.push(open, `      <skipped message="${xml(r.unchecked)}"/>`, '    </testcase>');
        continue;
      }
      if (r.ok) {
        out.push(open.replace(/>$/, '/>'));
        continue;
      }
      const msg = r.error ?? r.mismatches.map((m) => `${m.field}: expected ${show(m.expected)}, got ${show(m.actual)}`).join('; ');
      out.push(open, `      <failure message="${xml(msg)}" type="mismatch">${xml(failureLines(r).join('\n'))}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

export function formatText(results: readonly RouteTestResult[], problems: readonly TestFileProblem[]): string {
  const out: string[] = [];
  for (const p of problems) out.push(`INVALID ${p.file}:${p.line}:${p.col}: ${p.message}`);
  for (const r of results) {
    out.push(`${r.ok ? (r.unchecked !== undefined ? 'SKIP' : 'PASS') : 'FAIL'} ${r.test.name} (${r.test.file}:${r.test.line})${r.ok && r.unchecked !== undefined ? `: ${r.unchecked}` : ''}`);
    if (!r.ok) {
      out.push(`     ${r.test.request.method} ${r.test.request.scheme}://${r.test.request.authority}${r.test.request.target} → ${r.observed}`);
      for (const l of failureLines(r)) out.push(`     ${l}`);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  out.push(`${results.length} tests, ${results.length - failed} passed, ${failed} failed${problems.length ? `, ${problems.length} invalid` : ''}`);
  return out.join('\n') + '\n';
}

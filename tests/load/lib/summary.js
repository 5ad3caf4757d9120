// The end-of-test summary: k6's jslib textSummary needs the internet, so this is a small one of
// our own. handleSummary writes `<results>/<script>.json` (k6's summary data), `<script>.txt`
// (this text) and `<script>.report.md` (the script's section of REPORT.md), and prints the text.

import { cfg } from './config.js';

export const TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** A duration in ms, with a unit that keeps three significant digits. */
export function ms(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

export function pct(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  return `${(v * 100).toFixed(2)}%`;
}

export function int(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  return String(Math.round(v));
}

function formatValues(m) {
  const v = m.values || {};
  switch (m.type) {
    case 'trend': {
      const f = m.contains === 'time' ? ms : (x) => (x === undefined ? '–' : x.toFixed(2));
      return TREND_STATS.filter((s) => v[s] !== undefined)
        .map((s) => `${s}=${s === 'count' ? v[s] : f(v[s])}`)
        .join(' ');
    }
    case 'counter':
      return m.contains === 'data'
        ? `${(v.count / 1024 / 1024).toFixed(2)} MiB (${(v.rate / 1024).toFixed(1)} KiB/s)`
        : `${v.count} (${(v.rate || 0).toFixed(1)}/s over the whole test)`;
    case 'rate':
      return `${pct(v.rate)} (${v.passes} of ${v.passes + v.fails})`;
    case 'gauge':
      return `${v.value} (min ${v.min}, max ${v.max})`;
    default:
      return JSON.stringify(v);
  }
}

function checkList(group, out, depth) {
  for (const c of group.checks || []) {
    const total = c.passes + c.fails;
    out.push(`${'  '.repeat(depth)}${c.fails === 0 ? '✓' : '✗'} ${c.name}: ${c.passes}/${total}`);
  }
  for (const g of group.groups || []) {
    out.push(`${'  '.repeat(depth)}█ ${g.name}`);
    checkList(g, out, depth + 1);
  }
}

/** Every threshold of the run: [metric, expression, ok]. */
export function thresholdResults(data) {
  const rows = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const th = data.metrics[name].thresholds || {};
    for (const expr of Object.keys(th)) rows.push([name, expr, th[expr].ok]);
  }
  return rows;
}

export function allThresholdsOk(data) {
  return thresholdResults(data).every((r) => r[2]);
}

/** The text summary: thresholds first (with the value they looked at), then checks, metrics. */
export function textSummary(data, title) {
  const out = [];
  const secs = (data.state && data.state.testRunDurationMs ? data.state.testRunDurationMs / 1000 : 0).toFixed(1);
  const ok = allThresholdsOk(data);
  out.push(`== ${title}: ${ok ? 'all thresholds passed' : 'THRESHOLDS FAILED'} (${secs} s) ==`);
  out.push('');
  out.push('thresholds');
  for (const [name, expr, pass] of thresholdResults(data)) {
    out.push(`  ${pass ? '✓' : '✗'} ${pad(name, 56)} ${pad(expr, 16)} ${formatValues(data.metrics[name])}`);
  }
  out.push('');
  out.push('checks');
  checkList(data.root_group || {}, out, 1);
  out.push('');
  out.push('metrics');
  const names = Object.keys(data.metrics).sort();
  for (const name of names) {
    out.push(`  ${pad(name, 56)} ${formatValues(data.metrics[name])}`);
  }
  out.push('');
  return out.join('\n');
}

/** A metric's value, e.g. get(data, 'http_req_duration{kind:read}', 'p(99)'). */
export function get(data, metric, stat) {
  const m = data.metrics[metric];
  return m && m.values ? m.values[stat] : undefined;
}

/** The outputs of handleSummary for `script`, with its REPORT.md section. */
export function summaryOutputs(script, data, reportSection) {
  const text = textSummary(data, `${script}.js`);
  const ok = allThresholdsOk(data);
  const head = `## ${reportSection.title} (\`${script}.js\`: thresholds ${ok ? 'all passed' : '**FAILED**'})\n\n`;
  const failed = thresholdResults(data).filter((r) => !r[2]);
  const failures = failed.length
    ? `\nFailed thresholds: ${failed.map((r) => `\`${r[0]}: ${r[1]}\``).join(', ')}.\n`
    : '';
  const thresholds =
    '\n<details><summary>thresholds</summary>\n\n| metric | threshold | result | value |\n|---|---|---|---|\n' +
    thresholdResults(data)
      .map(([name, expr, pass]) => `| \`${name}\` | \`${expr}\` | ${pass ? 'pass' : '**fail**'} | ${formatValues(data.metrics[name])} |`)
      .join('\n') +
    '\n\n</details>\n';
  const out = { stdout: `\n${text}\n` };
  out[`${cfg.resultsDir}/${script}.json`] = JSON.stringify(data, null, 2);
  out[`${cfg.resultsDir}/${script}.txt`] = text;
  out[`${cfg.resultsDir}/${script}.report.md`] = head + reportSection.body + failures + thresholds + '\n';
  return out;
}

/** A markdown table. */
export function table(header, rows, align) {
  const a = align || header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [`| ${header.join(' | ')} |`, `|${a.join('|')}|`].concat(rows.map((r) => `| ${r.join(' | ')} |`)).join('\n') + '\n';
}

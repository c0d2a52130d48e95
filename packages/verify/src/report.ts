/**
 * The verdict and its three forms: the table a person reads, `--json`, and `--junit FILE` for CI systems. Failures of
 * requests in flight on the worker killed with SIGKILL are counted apart: they are what a crash costs, not a defect.
 * So are connections refused during the final stop (the listener closed: safe to retry, a load balancer moves on);
 * anything else that fails during the stop, a reset above all, fails the run and the stop event names it.
 */
import type { Route } from './load/index.js';
import type { TrafficKind } from './args.js';
import type { CheckResult } from './checks.js';
import type { CanaryWindow, CrashWindow, EventResult } from './events.js';
import type { KindSummary } from './traffic.js';

/** What a request cut by its worker's death looks like to a client. */
const CRASH_REASONS = /^(cut|ECONNRESET|EPIPE|socket hang up|incomplete response|closed without an answer|reset \d+|UND_ERR_SOCKET|other side closed|terminated|timeout)/;
/** After the replacement is ready, a client may still find out its kept connection died: this long. */
const CRASH_WINDOW_TAIL_MS = 1_000;
/** A connection refused: nothing was sent, so nothing was lost. */
const REFUSED = /^ECONNREFUSED\b/;

export interface KindResult {
  kind: TrafficKind;
  sent: number;
  ok: number;
  /** Failures that count: by cause. */
  failed: number;
  failures: Record<string, number>;
  /** Requests in flight on the killed worker: expected, reported apart. */
  crashFailures: number;
  /** 5xx answers while the canary held the bad release and rolled it back: what a canary costs, reported apart. */
  canaryFailures: number;
  /** During the final stop: connections refused (reported apart) and the failures among `failures` (by cause). */
  atStop: { refused: number; failures: Record<string, number> };
  retried: number;
  pids: number;
}

export interface VerifyResult {
  ok: boolean;
  /** One line per thing that failed, naming it. */
  causes: string[];
  target: { host: string; port: number; routes: string[]; websocket: string | undefined; sse: string | undefined };
  traffic: KindResult[];
  events: EventResult[];
  checks: CheckResult[];
  durationMs: number;
}

export function describeRoute(route: Route): string {
  return `${route.method} ${route.path}${route.status === undefined ? '' : ` ${route.status}`}${route.echo ? ' echo' : ''}`;
}

const countIn = (counts: Record<string, number>, reason: string) => (counts[reason] = (counts[reason] ?? 0) + 1);

/**
 * Splits a kind's failures into those the crash explains (at most `cap`), the canary's 5xx, the connections refused
 * once the final stop began (`stopFrom`), and the rest: the failures that count, those of the stop among them.
 */
export function judgeKind(kind: TrafficKind, summary: KindSummary, crash: CrashWindow | undefined, cap: number, canary?: CanaryWindow, stopFrom = Number.POSITIVE_INFINITY): KindResult {
  const failures: Record<string, number> = {};
  const atStop: KindResult['atStop'] = { refused: 0, failures: {} };
  let crashFailures = 0;
  let canaryFailures = 0;
  for (const failure of summary.failureLog) {
    if (canary && failure.at >= canary.from && failure.at <= canary.to && /^status 5\d\d$/.test(failure.reason)) {
      canaryFailures += 1;
      continue;
    }
    // In flight at some moment between the kill and shortly after the replacement was ready. A connection the
    // primary handed to the worker as it died is never answered: that request fails later, by timeout.
    const inWindow = crash && failure.at >= crash.from && failure.began <= crash.to + CRASH_WINDOW_TAIL_MS;
    if (inWindow && CRASH_REASONS.test(failure.reason) && crashFailures < cap) crashFailures += 1;
    else if (failure.began >= stopFrom && REFUSED.test(failure.reason)) atStop.refused += 1;
    else {
      countIn(failures, failure.reason);
      if (failure.at >= stopFrom) countIn(atStop.failures, failure.reason);
    }
  }
  const failed = summary.failed - crashFailures - canaryFailures - atStop.refused;
  return { kind, sent: summary.sent, ok: summary.ok, failed, failures, crashFailures, canaryFailures, atStop, retried: summary.retried, pids: summary.pids.size };
}

/** What one row of a kind counts. */
const unitOf = (kind: TrafficKind) => (kind === 'ws' || kind === 'sse' ? 'connection(s)' : 'request(s)');

export function causesOf(traffic: KindResult[], events: EventResult[], checks: CheckResult[]): string[] {
  const causes: string[] = [];
  for (const kind of traffic) {
    if (kind.failed > 0) causes.push(`${kind.kind}: ${kind.failed} ${unitOf(kind.kind)} failed (${Object.entries(kind.failures).map(([reason, count]) => `${reason} x${count}`).join(', ')})`);
  }
  for (const event of events) if (!event.ok) causes.push(`${event.name}: ${event.detail}`);
  for (const check of checks) if (!check.ok) causes.push(`${check.name}: ${check.detail}${check.fix ? `. Fix: ${check.fix}` : ''}`);
  return causes;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n');
}

export function formatText(result: VerifyResult): string {
  const lines: string[] = [];
  const { host, port, routes, websocket, sse } = result.target;
  const longLived = [websocket && `WebSocket ${websocket}`, sse && `event stream ${sse}`].filter(Boolean);
  lines.push(`zdt verify: ${host}:${port}, routes ${routes.join(', ')}${longLived.length ? `, ${longLived.join(', ')}` : ''}`, '');
  lines.push(
    table([
      ['traffic', 'requests', 'ok', 'failed', 'crash (apart)', 'canary (apart)', 'refused at stop (apart)', 'retried', 'workers', 'failures by cause'],
      ...result.traffic.map((kind) => [
        kind.kind,
        String(kind.sent),
        String(kind.ok),
        String(kind.failed),
        String(kind.crashFailures),
        String(kind.canaryFailures),
        String(kind.atStop.refused),
        String(kind.retried),
        kind.pids === 0 ? '-' : String(kind.pids),
        Object.entries(kind.failures).map(([reason, count]) => `${reason} x${count}`).join(', ') || '-',
      ]),
    ]),
  );
  if (longLived.length) lines.push('(ws, sse: requests are connections, each closed properly or open at the end; retried: opened again after a proper close)');
  lines.push('');
  lines.push(table([['event', 'result', 'time', 'detail'], ...result.events.map((event) => [event.name, event.ok ? 'ok' : 'FAILED', `${event.durationMs}ms`, event.detail])]), '');
  if (result.checks.length > 0) {
    lines.push(table([['check', 'result', 'detail'], ...result.checks.map((check) => [check.name, check.ok ? 'ok' : 'FAILED', check.detail])]));
    for (const check of result.checks) if (!check.ok && check.fix) lines.push(`  fix (${check.name}): ${check.fix}`);
    lines.push('');
  }
  if (result.ok) lines.push(`PASSED in ${(result.durationMs / 1000).toFixed(1)}s: no request failed that should not, every event and check passed`);
  else lines.push(`FAILED in ${(result.durationMs / 1000).toFixed(1)}s:`, ...result.causes.map((cause) => `  - ${cause}`));
  return lines.join('\n');
}

export function formatJson(result: VerifyResult): string {
  return JSON.stringify(result, null, 2);
}

const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[char]!).replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd]/gu, '');

/** JUnit XML: one suite per part (traffic, events, checks), one test case each, a <failure> for each that failed. */
export function formatJunit(result: VerifyResult): string {
  type Case = { name: string; ok: boolean; seconds: number; message: string; text: string };
  const suites: Array<[string, Case[]]> = [
    ['traffic', result.traffic.map((kind) => ({
      name: kind.kind,
      ok: kind.failed === 0,
      seconds: 0,
      message: `${kind.failed} of ${kind.sent} ${unitOf(kind.kind)} failed`,
      text: JSON.stringify(kind, null, 2),
    }))],
    ['events', result.events.map((event) => ({ name: event.name, ok: event.ok, seconds: event.durationMs / 1000, message: event.detail, text: event.detail }))],
    ['checks', result.checks.map((check) => ({ name: check.name, ok: check.ok, seconds: 0, message: check.detail, text: check.fix ? `${check.detail}\nFix: ${check.fix}` : check.detail }))],
  ];
  const all = suites.flatMap(([, cases]) => cases);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="zdt verify" tests="${all.length}" failures="${all.filter((item) => !item.ok).length}" errors="0" time="${(result.durationMs / 1000).toFixed(3)}">`);
  for (const [suite, cases] of suites) {
    const seconds = cases.reduce((sum, item) => sum + item.seconds, 0);
    out.push(`  <testsuite name="zdt verify: ${suite}" tests="${cases.length}" failures="${cases.filter((item) => !item.ok).length}" errors="0" skipped="0" time="${seconds.toFixed(3)}">`);
    for (const item of cases) {
      const open = `    <testcase classname="zdt verify.${suite}" name="${escapeXml(item.name)}" time="${item.seconds.toFixed(3)}"`;
      if (item.ok) out.push(`${open}/>`);
      else out.push(`${open}>`, `      <failure message="${escapeXml(item.message)}" type="failure">${escapeXml(item.text)}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

/**
 * Prints one plain closing line, "N passed, N failed" (", N skipped" when any), after vitest's own summary,
 * so tools that read a run's last line need not parse vitest's format.
 */
import type { Reporter } from 'vitest/reporters';

interface Task {
  type: string;
  mode?: string;
  result?: { state?: string };
  tasks?: Task[];
}

function count(tasks: Task[], totals: { passed: number; failed: number; skipped: number }): void {
  for (const task of tasks) {
    // A file or suite that failed although none of its tests did (an import error, a beforeAll hook that threw and
    // left its tests skipped) counts as one failure.
    if (task.type !== 'test' && task.result?.state === 'fail' && !(task.tasks ?? []).some((child) => child.result?.state === 'fail')) {
      totals.failed++;
    }
    if (task.tasks) count(task.tasks, totals);
    if (task.type !== 'test') continue;
    if (task.mode === 'skip' || task.mode === 'todo') totals.skipped++;
    else if (task.result?.state === 'pass') totals.passed++;
    else totals.failed++;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: Task[] = [], errors: unknown[] = []): void {
    const totals = { passed: 0, failed: 0, skipped: 0 };
    count(files, totals);
    // Errors outside any test (a file that failed to load, an unhandled rejection) fail the run too.
    totals.failed += errors.length;
    const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
    process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed${skipped}\n`);
  }
}

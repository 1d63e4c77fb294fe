import { proxyActivities } from '@temporalio/workflow';
import type { TestActivities, TestOutcome } from '../activities/tests';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import type { TestSpec } from '../config/testSpec';

/**
 * runTest: one statistical test between two stored samples, run on a CPU worker; the result is stored.
 * stat 'rut' schedules runRankUniformityTest instead of runTwoSampleTest (new specs only: histories
 * of earlier tests never had stat rut, so their command sequence is unchanged).
 */
const { runTwoSampleTest, runRankUniformityTest } = proxyActivities<TestActivities>({
  startToCloseTimeout: '1h',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

export async function runTest(spec: TestSpec): Promise<TestOutcome> {
  if (spec.stat === 'rut') return runRankUniformityTest(spec);
  return runTwoSampleTest(spec);
}

import { proxyActivities } from '@temporalio/workflow';
import type { TestActivities, TestOutcome } from '../activities/tests';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { isOneSampleTestStatistic, type TestSpec } from '../config/testSpec';

/**
 * runTest: one statistical test between two stored samples, run on a CPU worker; the result is stored.
 * stat 'rut' schedules runRankUniformityTest instead of runTwoSampleTest (new specs only: histories
 * of earlier tests never had stat rut, so their command sequence is unchanged).
 */
// The tests heartbeat on a timer. The two-sample and one-sample tests run in a thread of their own, so a cancelled run stops them within seconds.
const { runTwoSampleTest, runOneSampleTest } = proxyActivities<TestActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});
// The rank-uniformity statistic is computed on the event loop (linear in the rows read), where no heartbeat goes out: 2 minutes for it.
const { runRankUniformityTest } = proxyActivities<TestActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

async function runTestSteps(spec: TestSpec): Promise<TestOutcome> {
  if (spec.stat === 'rut') return runRankUniformityTest(spec);
  // One-sample statistics are new: no earlier history has them, so its command sequence is unchanged.
  if (isOneSampleTestStatistic(spec.stat)) return runOneSampleTest(spec);
  return runTwoSampleTest(spec);
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function runTest(input: Parameters<typeof runTestSteps>[0]): ReturnType<typeof runTestSteps> {
  return withRootCause(() => runTestSteps(input));
}

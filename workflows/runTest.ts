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
// The tests heartbeat on a timer. The two-sample test runs in a thread of its own, so a cancelled run stops it within seconds.
const { runTwoSampleTest } = proxyActivities<TestActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});
// The rank-uniformity and one-sample statistics are computed on the event loop, where no heartbeat goes out: 2 minutes for them.
const { runRankUniformityTest, runOneSampleTest } = proxyActivities<TestActivities>({
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

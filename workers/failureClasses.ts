import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { classifyAttempt, toApplicationFailure } from '../common/failures';

/**
 * Every activity's failure gets a class decided in one place (common/failures.ts): met's own
 * types keep their retry policy, disk-full fails at once, and an error of no known class is tried
 * UNKNOWN_ATTEMPTS times, then fails for good naming itself (issue #28). Workers install it
 * (workers/run.ts); tests that build workers by hand add it where they test it.
 */
export class FailureClassInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    try {
      return await next(input);
    } catch (err) {
      throw classifyAttempt(toApplicationFailure(err), this.ctx.info.attempt);
    }
  }
}

export const failureClassInterceptors = { activity: [(ctx: Context) => ({ inbound: new FailureClassInterceptor(ctx) })] };

/**
 * How long a step that heartbeats on a timer while it runs (activities/heartbeat.ts heartbeatingAll)
 * may go silent before Temporal runs it again. Without a heartbeat timeout a step that finished
 * while Temporal was away (the SDK drops a completion it could not deliver in about 10 s), or whose
 * worker was killed, is run again only at its start-to-close timeout, and its workflow waits that
 * long. A timer beats every 2 s, so a minute also covers a loaded worker's late timers and short
 * synchronous stretches (test/workflows/heartbeats.test.ts checks every workflow's steps).
 */
export const STEP_HEARTBEAT_TIMEOUT = '1m';

/**
 * The same for a job whose spec sets `heartbeatTimeoutSeconds` (a collection, a batch unit): that,
 * but at least 30 s, since these steps are short and a loaded worker's timer may be late.
 */
export function stepHeartbeatMs(heartbeatTimeoutSeconds = 60): number {
  return Math.max(30, heartbeatTimeoutSeconds) * 1000;
}

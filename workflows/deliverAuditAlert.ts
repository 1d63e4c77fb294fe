import { proxyActivities } from '@temporalio/workflow';
import type { AuditActivities, AuditAlert } from '../activities/audits';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';

/**
 * deliverAuditAlert: one verdict change's webhook call, as a workflow of its own (issue #28). The
 * firing records the change and starts this without waiting for it, so a slow or dead webhook
 * delays no firing; `met audit show` lists alerts whose delivery is still being tried or failed.
 * Bounded: about 20 tries over some hours, then it fails naming the webhook's last answer.
 */
const alerts = proxyActivities<AuditActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

export async function deliverAuditAlert(input: { alert: AuditAlert }): Promise<{ alertId: string; sent: boolean }> {
  return withRootCause(async () => ({ alertId: input.alert.alertId, sent: (await alerts.sendAuditAlert(input.alert)).sent }));
}

import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

PARKED_REPORT_MAX_AGE = timedelta(hours=48)
# The sending transaction commits its attempts at the end of its batch: the first try of a
# parked report waits that long.
PARK_DELAY = timedelta(seconds=5)
# Triggers are rounded to this step, so a burst of parked reports adds one trigger per step.
TRIGGER_STEP_SECONDS = 10
RETRY_FIRST_DELAY = timedelta(seconds=30)
RETRY_MAX_DELAY = timedelta(minutes=30)
BATCH_SIZE = 500


class SmsRouterParkedReport(models.Model):
    """A delivery report that arrived before the attempt it is about was committed.

    Providers answer a send within seconds while the sending transaction commits at the
    end of its batch, and that transaction cannot see what other transactions commit in the
    meantime. A report that finds no attempt is therefore parked here (see
    ``sms.router.attempt._sms_router_receive_report``, used by every provider) and applied
    by a scheduled action, triggered when the report is parked, once the attempt exists.
    """
    _name = 'sms.router.parked.report'
    _description = 'SMS Router Parked Delivery Report'
    _order = 'id'

    account_id = fields.Many2one('sms.router.account', ondelete='cascade', index=True,
                                 help='Empty for Odoo IAP reports, which name the SMS only.')
    message_id = fields.Char('Provider Message ID', index=True)
    sms_uuid = fields.Char('SMS UUID', help='When the report names its SMS, the attempt must match it.')
    sms_provider = fields.Char('Provider')
    number = fields.Char(help='The recipient the report names, when the provider gives it.')
    delivered = fields.Boolean()
    provider_error = fields.Char()
    reason = fields.Char()
    tentative = fields.Boolean(help='A "delivered" that never overrides a recorded failure.')
    opt_out = fields.Boolean(help='The report says that the recipient opted out.')
    tries = fields.Integer(readonly=True, default=0)
    next_try_at = fields.Datetime(required=True, index=True, default=fields.Datetime.now)

    @api.model
    def _sms_router_park(self, values):
        report = self.sudo().create(values)
        self._sms_router_trigger(fields.Datetime.now() + PARK_DELAY)
        return report

    @api.model
    def _sms_router_trigger(self, at=None):
        cron = self.env.ref('sms_router.ir_cron_sms_router_parked_reports', raise_if_not_found=False)
        if not cron:
            return
        cron = cron.sudo()
        if at is None:
            cron._trigger()
            return
        at += timedelta(seconds=-at.second % TRIGGER_STEP_SECONDS, microseconds=-at.microsecond)
        if not self.env['ir.cron.trigger'].sudo().search_count(
                [('cron_id', '=', cron.id), ('call_at', '=', at)], limit=1):
            cron._trigger(at=at)

    @api.model
    def _sms_router_apply_parked(self, limit=BATCH_SIZE):
        """Apply the due parked reports whose attempt now exists; forget the old ones.

        Due reports are tried the least tried first, then the oldest first. A report that
        still finds no attempt is tried again later and later (``_sms_router_retry_delay``),
        so a backlog of reports that will never match (SMS sent elsewhere, ids the router
        never recorded) is tried a few times an hour and always after the fresh reports,
        which are the ones about to match: it cannot take the batch of every run. When
        more reports are due than one run takes, the action runs again at once.
        """
        now = fields.Datetime.now()
        self._sms_router_drop_expired(now)
        due = self.sudo().search([('next_try_at', '<=', now)], order='tries, next_try_at, id', limit=limit + 1)
        if len(due) > limit:
            due = due[:limit]
            self._sms_router_trigger()
        done = self.browse()
        waiting = {}
        for report in due:
            if report._sms_router_apply() == 'unknown':
                waiting.setdefault(report.tries + 1, self.browse())
                waiting[report.tries + 1] |= report
            else:
                done |= report
        done.unlink()
        for tries, reports in waiting.items():
            reports.write({'tries': tries, 'next_try_at': now + self._sms_router_retry_delay(tries)})
        return len(done)

    @api.model
    def _sms_router_retry_delay(self, tries):
        return min(RETRY_FIRST_DELAY * 2 ** min(tries - 1, 16), RETRY_MAX_DELAY)

    def _sms_router_apply(self):
        self.ensure_one()
        return self.env['sms.router.attempt']._sms_router_apply_report(
            self.account_id, self.message_id, self.delivered, provider_error=self.provider_error,
            reason=self.reason, sms_uuid=self.sms_uuid, number=self.number, sms_provider=self.sms_provider,
            tentative=self.tentative, opt_out=self.opt_out)

    @api.model
    def _sms_router_drop_expired(self, now):
        expired = self.sudo().search([('create_date', '<', now - PARKED_REPORT_MAX_AGE)])
        if not expired:
            return
        _logger.info('SMS router: %d delivery reports dropped: no attempt matched them within %s '
                     '(first: %s)', len(expired), PARKED_REPORT_MAX_AGE,
                     ', '.join(f'account {report.account_id.id or "-"} message '
                               f'{report.message_id or report.sms_uuid}' for report in expired[:10]))
        expired.unlink()

import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

PARKED_REPORT_MAX_AGE = timedelta(hours=48)


class SmsRouterParkedReport(models.Model):
    """A delivery report that arrived before the attempt it is about was committed.

    Providers answer a send within seconds while the sending transaction commits at the
    end of its batch, and that transaction cannot see what other transactions commit in the
    meantime. A report that finds no attempt is therefore parked here and applied by a
    frequent scheduled action once the attempt exists.
    """
    _name = 'sms.router.parked.report'
    _description = 'SMS Router Parked Delivery Report'
    _order = 'id'

    account_id = fields.Many2one('sms.router.account', required=True, ondelete='cascade', index=True)
    message_id = fields.Char('Provider Message ID', required=True, index=True)
    sms_uuid = fields.Char('SMS UUID', help='When the report names its SMS, the attempt must match it.')
    delivered = fields.Boolean()
    provider_error = fields.Char()
    reason = fields.Char()

    @api.model
    def _sms_router_apply_parked(self):
        """Apply the parked reports whose attempt now exists; forget the old ones."""
        parked = self.sudo().search([], limit=2000)
        limit_date = fields.Datetime.now() - PARKED_REPORT_MAX_AGE
        done = self.browse()
        for report in parked:
            outcome = self.env['sms.router.attempt']._sms_router_apply_report(
                report.account_id, report.message_id, report.delivered, report.provider_error,
                report.reason, report.sms_uuid)
            if outcome != 'unknown':
                done |= report
            elif report.create_date < limit_date:
                _logger.info('SMS router: delivery report for message %s of account %s dropped: '
                             'no such SMS after %s', report.message_id, report.account_id.id,
                             PARKED_REPORT_MAX_AGE)
                done |= report
        done.unlink()

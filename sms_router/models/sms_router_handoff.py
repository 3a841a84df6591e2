import logging
import uuid
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.side_transaction import side_cursor

_logger = logging.getLogger(__name__)


class SmsRouterHandoff(models.Model):
    """SMS handed to a provider by a dispatch that may not have committed yet.

    Under the "at most once" policy a row is committed, in its own transaction, right
    before each provider call. The sending transaction then records the attempts with the
    same dispatch token. A hand-off without attempts of its dispatch therefore means the
    worker died (or its transaction rolled back) after the SMS may have left: the SMS must
    not be sent again blindly, it is flagged for review instead.
    """
    _name = 'sms.router.handoff'
    _description = 'SMS Router Hand-off Journal'
    _log_access = False

    dispatch_token = fields.Char(required=True, index=True, readonly=True)
    sms_uuid = fields.Char(required=True, index=True, readonly=True)
    account_id = fields.Integer(readonly=True)
    account_name = fields.Char(readonly=True)
    handed_at = fields.Datetime(required=True, readonly=True)

    @api.model
    def _journal(self):
        return HandoffJournal(self.env.registry)

    @api.model
    def _interrupted(self, sms_uuids):
        """{sms uuid: (dispatch token, account name, handed_at)} of hand-offs whose dispatch
        never recorded its attempts, i.e. may have been sent before a crash."""
        if not sms_uuids:
            return {}
        self.env.cr.execute(SQL("""
            SELECT h.sms_uuid, h.dispatch_token, h.account_name, h.handed_at
              FROM sms_router_handoff h
             WHERE h.sms_uuid IN %s
               AND NOT EXISTS (SELECT 1 FROM sms_router_attempt a
                                WHERE a.sms_uuid = h.sms_uuid AND a.dispatch_token = h.dispatch_token)
          ORDER BY h.handed_at
        """, tuple(sms_uuids)))
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    @api.autovacuum
    def _gc_settled_handoffs(self):
        """Hand-offs whose attempts were recorded are settled; old ones are forgotten."""
        limit = fields.Datetime.now() - timedelta(days=30)
        self.env.cr.execute(SQL("""
            DELETE FROM sms_router_handoff h
             WHERE h.handed_at < %s
                OR EXISTS (SELECT 1 FROM sms_router_attempt a
                            WHERE a.sms_uuid = h.sms_uuid AND a.dispatch_token = h.dispatch_token)
        """, limit))
        _logger.info('SMS router: removed %d settled hand-offs', self.env.cr.rowcount)


class HandoffJournal:
    """Writes hand-offs of one dispatch, each call committed in its own transaction."""

    def __init__(self, registry):
        self.registry = registry
        self.token = uuid.uuid4().hex

    def record(self, account, request):
        if not request.recipients:
            return
        account_id = account.account_id if isinstance(account.account_id, int) else None
        rows = SQL(', ').join(
            SQL("(%s, %s, %s, %s, now() at time zone 'UTC')", self.token, recipient.key, account_id, account.name)
            for recipient in request.recipients)
        with side_cursor(self.registry) as cr:
            cr.execute(SQL("""
                INSERT INTO sms_router_handoff (dispatch_token, sms_uuid, account_id, account_name, handed_at)
                VALUES %s
            """, rows))

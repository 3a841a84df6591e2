import logging

import psycopg2
from markupsafe import Markup

from odoo import SUPERUSER_ID, api, fields, models
from odoo.tools import SQL, formatLang

from ..tools.reason_text import company_lang, render_reason
from ..tools.side_transaction import side_cursor

_logger = logging.getLogger(__name__)

ALERT_KINDS = [
    ('breaker_open', 'Breaker Open'),
    ('breaker_closed', 'Breaker Closed Again'),
    ('low_credit', 'Low Credit'),
    ('needs_review', 'SMS Need Review'),
    ('held', 'SMS Held'),
    ('window_never_opens', 'Send Windows Never Open'),
    ('quality_low', 'Delivery Quality Low'),
]
# Kinds that last as long as a condition (a breaker open, a credit low, SMS held): once
# acknowledged they still gather the events of that condition, without notifying again,
# until the router sees the condition end and resolves them. The others end when acknowledged.
CONDITION_KINDS = ('breaker_open', 'low_credit', 'held', 'quality_low')
# Kinds that only inform: created resolved, they notify but give nobody a To-Do.
INFORMATIONAL_KINDS = ('breaker_closed',)
# The uuids of the SMS to review an alert keeps: about 2,000 (an uuid and a space: 37).
MAX_UUIDS_LENGTH = 37 * 2000


def _constant(text):
    return lambda _env: text


class SmsRouterAlert(models.Model):
    """One alert of the router to its operators: a breaker opened or closed again, a credit
    fell below its threshold, SMS need review, SMS are held because every provider of their
    chain is down.

    Alerts are debounced: at most one *ongoing* alert per kind, company and account (a
    partial unique index says so to concurrent workers). An event of the same kind while one
    is ongoing counts on it (events, SMS, last event, details) and notifies nobody; only a
    new alert notifies, once, through the company's channels (To-Do activities, a Discuss
    channel, emails queued in Odoo's mail queue).

    Events are recorded by the ``_sms_router_*`` methods below in a short transaction of
    their own (``side_cursor``): the sending transaction of another worker then never
    waits on this one's uncommitted alert, the alert stays when the batch that saw the event
    rolls back (as the breaker does), and a failure to record it is logged, never raised.
    """
    _name = 'sms.router.alert'
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _description = 'SMS Router Alert'
    _order = 'last_date desc, id desc'
    _check_company_auto = True
    # Operators only read alerts: they comment on them and mark their To-Dos done too.
    _mail_post_access = 'read'

    name = fields.Char('Alert', required=True, readonly=True)
    kind = fields.Selection(ALERT_KINDS, required=True, readonly=True, index=True)
    company_id = fields.Many2one('res.company', required=True, readonly=True, index=True)
    account_id = fields.Many2one('sms.router.account', 'Provider Account', readonly=True,
                                 index='btree_not_null', ondelete='cascade', check_company=True)
    message = fields.Text('Details', readonly=True)
    state = fields.Selection(
        [('open', 'Open'), ('acknowledged', 'Acknowledged'), ('resolved', 'Resolved')],
        default='open', required=True, readonly=True, index=True, tracking=True)
    ongoing = fields.Boolean(
        default=True, readonly=True,
        help='New events of the same kind count on this alert instead of notifying again.')
    event_count = fields.Integer(
        'Events', default=1, readonly=True,
        help='Events gathered by this alert: breaker openings and failed probes, batches that '
             'held SMS or left SMS to review, credit crossings.')
    sms_count = fields.Integer('SMS', readonly=True, help='SMS concerned by the events of this alert.')
    # The SMS to review, by uuid: they may not be committed yet when the alert is (see
    # _sms_router_raise), so no foreign key; at most about MAX_UUIDS_LENGTH characters.
    sms_uuids = fields.Text('SMS UUIDs', readonly=True, copy=False)
    first_date = fields.Datetime('First Event', default=fields.Datetime.now, readonly=True)
    last_date = fields.Datetime('Last Event', default=fields.Datetime.now, readonly=True)
    acknowledged_by_id = fields.Many2one('res.users', readonly=True)
    acknowledged_date = fields.Datetime('Acknowledged On', readonly=True)
    resolved_date = fields.Datetime('Resolved On', readonly=True)

    # Concurrent workers that see the same event both try to create the alert: the second
    # one fails on this index and counts its event on the first one's alert instead.
    _ongoing_unique = models.UniqueIndex(
        '(kind, company_id, COALESCE(account_id, 0)) WHERE ongoing',
        'One ongoing alert per kind, company and provider account.')

    # ------------------------------------------------------------ actions

    def action_acknowledge(self):
        """Someone looks into these alerts: their To-Dos are done, and they notify nobody
        again. Operators only read alerts: checked here, written as superuser."""
        self.check_access('read')
        alerts = self.filtered(lambda alert: alert.state == 'open')
        now = fields.Datetime.now()
        for alert in alerts.sudo():
            alert.write({
                'state': 'acknowledged',
                'ongoing': alert.kind in CONDITION_KINDS,
                'acknowledged_by_id': self.env.uid,
                'acknowledged_date': now,
            })
        if alerts:
            alerts.sudo().activity_ids.action_feedback(
                feedback=self.env._('Acknowledged by %s.', self.env.user.name))
        return True

    def action_open_account(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'sms.router.account',
            'res_id': self.account_id.id,
            'view_mode': 'form',
            'views': [(False, 'form')],
        }

    def action_view_attempts(self):
        """The attempts behind this alert: the account's since the first event, or the SMS
        to review, or those of the SMS held."""
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_attempt_action')
        action['context'] = {}
        action['domain'] = self._sms_router_attempt_domain()
        return action

    def action_view_sms(self):
        """The SMS of this alert (system administrators: Odoo lets only them read SMS)."""
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_sms_action')
        action['context'] = {}
        if self.kind == 'held':
            action['domain'] = self._sms_router_held_domain(self.company_id)
        else:
            action['domain'] = [('uuid', 'in', (self.sms_uuids or '').split())]
        return action

    def _sms_router_attempt_domain(self):
        self.ensure_one()
        if self.kind == 'needs_review':
            return [('sms_uuid', 'in', (self.sms_uuids or '').split())]
        if self.kind == 'held':
            uuids = self.env['sms.sms'].sudo().search(self._sms_router_held_domain(self.company_id)).mapped('uuid')
            return [('sms_uuid', 'in', uuids)]
        return [('account_id', '=', self.account_id.id)]

    @api.model
    def _sms_router_held_domain(self, company):
        return [('sms_router_company_id', '=', company.id), ('state', '=', 'outgoing'),
                ('sms_router_hold_until', '!=', False)]

    # ------------------------------------------------------------ events

    @api.model
    def _sms_router_breaker_events(self, account, transitions, reasons=None):
        """Alerts of breaker transitions (engine BreakerTransition) of ``account``: opened
        (or open again after a failed probe), closed by a successful probe. ``reasons``:
        the failure of each transition as its chatter note says it."""
        for index, transition in enumerate(transitions):
            if transition.after == 'open':
                reason = reasons[index] if reasons else account._sms_router_redact(
                    render_reason(transition.reason, self.env.lang))
                self._sms_router_raise(
                    'breaker_open', account.company_id, account=account,
                    title=lambda env: env._('Breaker open: %s', account.name),
                    message=self._sms_router_opened_text(account, transition, reason))
            elif transition.after == 'closed' and transition.before == 'half-open':
                self._sms_router_breaker_closed(account)

    @api.model
    def _sms_router_opened_text(self, account, transition, reason):
        """The details of a breaker opening, as a function of an environment."""
        seconds = int(transition.cooldown)

        def text(env):
            if transition.before == 'half-open':
                return env._('Probe failed (%(reason)s): the breaker of %(account)s is open again; the next '
                             'probe tests it in %(seconds)s s.', account=account.name, reason=reason, seconds=seconds)
            return env._('The breaker of %(account)s opened after %(count)s consecutive failures (last: '
                         '%(reason)s). The account is skipped; a probe tests it in %(seconds)s s.',
                         account=account.name, count=transition.failure_count, reason=reason, seconds=seconds)
        return text

    @api.model
    def _sms_router_breaker_closed(self, account, user=None):
        """The breaker of ``account`` is closed again: its breaker alert is resolved, and
        a probe that closed it is told once (``user``: a manual reset, told to nobody)."""
        if user:
            self._sms_router_resolve('breaker_open', account.company_id, account=account, note=lambda env: env._(
                'Breaker reset by %s: the account takes traffic again.', user.name))
            return
        self._sms_router_resolve('breaker_open', account.company_id, account=account, note=lambda env: env._(
            'A probe succeeded: the breaker is closed again.'))
        self._sms_router_raise(
            'breaker_closed', account.company_id, account=account,
            title=lambda env: env._('Breaker closed again: %s', account.name),
            message=lambda env: env._('A probe succeeded: %s takes traffic again.', account.name))

    @api.model
    def _sms_router_credit_changed(self, account, is_low, left):
        """The credit of ``account`` crossed its low-credit threshold, to ``left``: below
        it when ``is_low``, else back above it."""
        company = account.company_id
        if is_low:
            threshold = account.credit_low_threshold
            self._sms_router_raise(
                'low_credit', company, account=account,
                title=lambda env: env._('Low credit: %s', account.name),
                message=lambda env: env._(
                    '%(account)s has %(left)s credit left, below its threshold of %(threshold)s: it is '
                    'skipped (failover) until topped up.', account=account.name,
                    left=formatLang(env, left, digits=2), threshold=formatLang(env, threshold, digits=2)))
        else:
            self._sms_router_resolve('low_credit', company, account=account, note=lambda env: env._(
                'The credit is back above the threshold.'))

    @api.model
    def _sms_router_needs_review(self, company, uuids, reason):
        """The SMS ``uuids`` of a batch of ``company`` need review (ambiguous, "at most once")."""
        count = len(uuids)
        self._sms_router_raise(
            'needs_review', company, sms=count, uuids=uuids,
            title=lambda env: env._('SMS need review: %s', company.name),
            message=lambda env: env._(
                '%(count)s SMS may have been sent by a provider that did not answer in time ("at most '
                'once"): check them before sending them again. Last: %(reason)s',
                count=count, reason=reason or '-'))

    @api.model
    def _sms_router_held(self, company, count, reason):
        """``count`` SMS of a batch of ``company`` are held: every account of their chain is down."""
        self._sms_router_raise(
            'held', company, sms=count,
            title=lambda env: env._('SMS held, every provider down: %s', company.name),
            message=lambda env: env._(
                '%(count)s SMS wait in the queue: every account of their chain failed (%(reason)s). '
                'They are sent automatically once a provider takes traffic again.',
                count=count, reason=reason or '-'))

    @api.model
    def _sms_router_windows_never_open(self, company, count, reason):
        """``count`` SMS of a batch of ``company`` wait because the send windows that govern
        them never open together (``reason``, an engine Reason naming them)."""
        self._sms_router_raise(
            'window_never_opens', company, sms=count,
            title=lambda env: env._('Send windows never open: %s', company.name),
            message=lambda env: env._(
                '%(count)s SMS wait in the queue because their send windows never open together (%(reason)s): '
                'change these rules. The SMS are checked again every day, and as soon as a rule changes.',
                count=count, reason=render_reason(reason, env.lang)))

    @api.model
    def _sms_router_check_held(self, companies=None):
        """Resolve the held alerts of ``companies`` (None: every company with one) that
        have no SMS held any more. One query when no held alert is ongoing. Never raises:
        it runs after providers answered."""
        domain = [('kind', '=', 'held'), ('ongoing', '=', True)]
        if companies is not None:
            domain.append(('company_id', 'in', companies.ids))
        try:
            with self.env.cr.savepoint():
                over = self.sudo().search(domain).company_id.filtered(
                    lambda company: not self.env['sms.sms'].sudo().search_count(
                        self._sms_router_held_domain(company), limit=1))
        except Exception:  # noqa: BLE001 - see _sms_router_raise
            _logger.exception('SMS router: held alerts not checked')
            return
        for company in over:
            self._sms_router_resolve('held', company, note=lambda env: env._('No SMS is held any more.'))

    # ------------------------------------------------------------ recording

    @api.model
    def _sms_router_raise(self, kind, company, title, message, account=None, sms=0, uuids=()):
        """Record one event of ``kind``; notify when it opens a new alert. ``title`` and
        ``message`` are texts, or functions of an environment returning them (written in
        the company's language, as the reasons stored while sending: see tools/reason_text).
        Never raises; returns the alert's id, or None.

        Tests and tours can open an alert with it, e.g.
        ``env['sms.router.alert']._sms_router_raise('needs_review', company, 'Title', 'Details')``.
        """
        if not callable(title):
            title = _constant(title)
        if not callable(message):
            message = _constant(message)
        try:
            # What this transaction wrote is seen by the side transaction only where they
            # share one (tests); in production it is committed configuration anyway.
            self.env.flush_all()
            with side_cursor(self.env.registry) as cr:
                env = api.Environment(cr, SUPERUSER_ID, {'lang': company_lang(self.env, company)})
                alert_id = env['sms.router.alert']._sms_router_record(
                    kind, company.id, account.id if account else False, title(env), message(env), sms,
                    ' '.join(uuids))
        except Exception:  # noqa: BLE001 - an alert must never cost an SMS nor a save
            _logger.exception('SMS router: %s alert of company %s (account %s) not recorded',
                              kind, company.id, account.id if account else None)
            return None
        self.invalidate_model()
        return alert_id

    @api.model
    def _sms_router_record(self, kind, company_id, account_id, title, message, sms, uuids=''):
        """Count the event on the ongoing alert of its kind, company and account, or create
        that alert and notify. Runs in the side transaction (READ COMMITTED): the count is
        one atomic UPDATE, and an alert another worker just created is seen at the retry."""
        informational = kind in INFORMATIONAL_KINDS
        for _try in range(3):
            if not informational:
                self.env.cr.execute(SQL(
                    """
                    UPDATE sms_router_alert
                       SET event_count = event_count + 1, sms_count = sms_count + %(sms)s,
                           sms_uuids = CASE WHEN length(COALESCE(sms_uuids, '')) < %(max_uuids)s
                                            THEN concat_ws(' ', NULLIF(sms_uuids, ''), NULLIF(%(uuids)s, ''))
                                            ELSE sms_uuids END,
                           last_date = %(now)s, message = %(message)s, write_date = %(now)s,
                           write_uid = %(uid)s
                     WHERE ongoing AND kind = %(kind)s AND company_id = %(company)s
                       AND COALESCE(account_id, 0) = %(account)s
                 RETURNING id
                    """, sms=sms, uuids=uuids, max_uuids=MAX_UUIDS_LENGTH, now=fields.Datetime.now(),
                    message=message, uid=self.env.uid,
                    kind=kind, company=company_id, account=account_id or 0))
                row = self.env.cr.fetchone()
                if row:
                    return row[0]
            try:
                with self.env.cr.savepoint():
                    alert = self.with_context(mail_create_nolog=True, mail_create_nosubscribe=True).create({
                        'kind': kind, 'company_id': company_id, 'account_id': account_id,
                        'name': title, 'message': message, 'sms_count': sms, 'sms_uuids': uuids or False,
                        'state': 'resolved' if informational else 'open',
                        'ongoing': not informational,
                        'resolved_date': fields.Datetime.now() if informational else False,
                    })
            except psycopg2.errors.UniqueViolation:
                continue  # created meanwhile by another worker: count the event on it
            alert._sms_router_notify()
            return alert.id
        return None

    @api.model
    def _sms_router_resolve(self, kind, company, account=None, note=None):
        """Resolve the ongoing alert of ``kind``, company and account, if any: its To-Dos
        are done with ``note`` (a function of an environment). Never raises."""
        try:
            self.env.flush_all()
            with side_cursor(self.env.registry) as cr:
                env = api.Environment(cr, SUPERUSER_ID, {'lang': company_lang(self.env, company)})
                alerts = env['sms.router.alert'].search([
                    ('kind', '=', kind), ('company_id', '=', company.id), ('ongoing', '=', True),
                    ('account_id', '=', account.id if account else False)])
                if alerts:
                    text = note(env) if note else ''
                    alerts.write({'state': 'resolved', 'ongoing': False, 'resolved_date': fields.Datetime.now()})
                    # The note goes with the To-Dos marked done, else on the chatter.
                    if text:
                        for alert in alerts.filtered(lambda alert: not alert.activity_ids):
                            alert._message_log(body=text)
                    alerts.activity_ids.action_feedback(feedback=text)
        except Exception:  # noqa: BLE001 - see _sms_router_raise
            _logger.exception('SMS router: %s alert of company %s (account %s) not resolved',
                              kind, company.id, account.id if account else None)
            return
        self.invalidate_model()

    # ------------------------------------------------------------ notifying

    def _sms_router_notify(self):
        """Tell the company's alert recipients of this new alert, once, through each
        channel the company chose. A channel that fails is logged; the others go on."""
        self.ensure_one()
        company = self.company_id
        users = company._sms_router_alert_recipients()
        channels = []
        if company.sms_router_alert_activity and users and self.kind not in INFORMATIONAL_KINDS:
            channels.append(('activity', self._sms_router_notify_activities))
        if company.sms_router_alert_channel and company.sms_router_alert_channel_id:
            channels.append(('discuss', self._sms_router_notify_channel))
        if company.sms_router_alert_email and users.partner_id.filtered('email'):
            channels.append(('email', self._sms_router_notify_email))
        for name, notify in channels:
            try:
                with self.env.cr.savepoint():
                    if name == 'discuss':
                        notify(company.sms_router_alert_channel_id)
                    else:
                        notify(users)
            except Exception:  # noqa: BLE001 - one channel down must not silence the others
                _logger.exception('SMS router: alert %s not notified by %s', self.id, name)

    def _sms_router_notify_activities(self, users):
        # A To-Do in each recipient's activities; quick_update: no "assigned to you" email
        # on top (the email channel is a choice of its own).
        alert = self.with_context(mail_activity_quick_update=True)
        for user in users:
            alert.activity_schedule('mail.mail_activity_data_todo', summary=self.name, note=self.message,
                                    user_id=user.id)

    def _sms_router_notify_channel(self, channel):
        body = Markup('<p><strong>%s</strong></p><p>%s</p>') % (self._get_html_link(title=self.name),
                                                                self.message or '')
        channel.message_post(body=body, author_id=self.env.ref('base.partner_root').id,
                             message_type='comment', subtype_xmlid='mail.mt_comment')

    def _sms_router_notify_email(self, users):
        # Queued: the mail queue's scheduled action sends it, never the sending worker.
        link = self._notify_get_action_link('view')
        body = Markup('<p>%s</p><p><a href="%s">%s</a></p>') % (
            self.message or self.name, link, self.env._('View the alert'))
        self.env['mail.mail'].create({
            'subject': self.name,
            'body_html': body,
            'email_from': self.company_id.email_formatted
                          or self.env['ir.mail_server']._get_default_from_address()
                          or self.env.ref('base.partner_root').email_formatted,
            'recipient_ids': [(6, 0, users.partner_id.filtered('email').ids)],
            'model': self._name,
            'res_id': self.id,
            'auto_delete': True,
        })

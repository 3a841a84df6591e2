"""Shared helpers for the router's Odoo tests, reused by the provider addons.

``SmsRouterCase.mockRouterClients`` replaces the engine client of chosen accounts with a
scripted fake, so a test says "this account is down, that one accepts" without any HTTP;
provider addons use ``responses`` against their real clients instead (see
``route_requests_through_responses``). Assertion helpers read the attempt trail.
"""
import itertools
from contextlib import contextmanager
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.addons.sms.tests.common import SMSCase
from odoo.modules.neutralize import get_installed_modules, get_neutralization_queries
from odoo.tests import common
from odoo.tools import SQL

from ..engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from ..models.sms_router_account import _CLIENT_CACHE, _CLIENT_CACHE_LOCK, SmsRouterAccount


class ScriptedClient(ProviderClient):
    """A provider that answers every request with ``behaviour``.

    ``behaviour`` is a OutcomeKind (same outcome for every recipient), a dict {E.164 number: OutcomeKind}
    (others are sent), or a callable(request) -> BatchResult.
    """

    _ids = itertools.count(1)

    def __init__(self, name, behaviour=OutcomeKind.SENT, max_recipients=100, calls=None, configuration_error=None):
        self.provider = 'scripted'
        self.name = name
        self.behaviour = behaviour
        self.max_recipients_per_request = max_recipients
        self.calls = calls if calls is not None else []
        # When set, the account is unusable as configured: the router skips it without a call.
        self.configuration_error = configuration_error

    def check_configuration(self):
        return self.configuration_error

    def send(self, request):
        self.calls.append((self.name, request))
        if callable(self.behaviour) and not isinstance(self.behaviour, OutcomeKind):
            return self.behaviour(request)
        outcomes = {}
        for recipient in request.recipients:
            kind = self.behaviour
            if isinstance(kind, dict):
                kind = kind.get(recipient.number, OutcomeKind.SENT)
            outcomes[recipient.key] = RecipientOutcome(
                kind, '' if kind is OutcomeKind.SENT else f'{self.name}: scripted {kind.value}',
                message_id=f'{self.name}-{next(self._ids)}' if kind is OutcomeKind.SENT else None)
        return BatchResult(outcomes)


def route_requests_through_responses(test_class):
    """Class decorator: let ``responses`` see the requests Odoo's test mode would block.

    Odoo's BaseCase patches ``requests.Session.send`` to refuse non-local hosts; responses
    intercepts one level lower, so the request must first get past Odoo's patch.
    """
    @classmethod
    def _request_handler(cls, s, r, /, **kw):
        return common._super_send(s, r, **kw)

    test_class._request_handler = _request_handler
    return test_class


class SmsRouterCase(SMSCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr = cls.env['res.company'].create({
            'name': 'Router FR', 'country_id': cls.env.ref('base.fr').id})
        cls.company_gb = cls.env['res.company'].create({
            'name': 'Router GB', 'country_id': cls.env.ref('base.uk').id})
        cls.env.user.company_ids |= cls.company_fr | cls.company_gb
        # Most tests look at how a chain ends: with holding on (the default), a chain that
        # fails on the providers' side would wait in the queue instead. The hold has its
        # own tests (test_router_hold), which turn it back on.
        (cls.company_fr | cls.company_gb).sms_router_max_hold_hours = 0

    def setUp(self):
        super().setUp()
        self.forgetRouterClients()
        self.addCleanup(self.forgetRouterClients)

    @staticmethod
    def forgetRouterClients():
        """Drop the per-process cache of provider clients. It is keyed by write_date,
        which does not move within the single transaction of a test class, so a test that
        changes an account without ``write`` (or a previous test) could leave a client
        built from older values."""
        with _CLIENT_CACHE_LOCK:
            _CLIENT_CACHE.clear()

    # ---------------------------------------------------------------- records

    def _router_account(self, company, name, provider='iap', **values):
        return self.env['sms.router.account'].create({
            'name': name, 'company_id': company.id, 'sms_provider': provider, **values})

    def _router_route(self, company, accounts, name='Route', **values):
        return self.env['sms.router.route'].create({
            'name': name, 'company_id': company.id,
            'step_ids': [(0, 0, {'account_id': account.id, 'sequence': index})
                         for index, account in enumerate(accounts)],
            **values,
        })

    def _router_sms(self, company, numbers, body='Your appointment is tomorrow at 10:00', **values):
        return self.env['sms.sms'].create([
            {'number': number, 'body': body, 'sms_router_company_id': company.id, **values}
            for number in numbers])

    def _router_credits_read_now_except(self, accounts):
        """Mark the credit of every other active account as read just now, so that the
        credit cron only looks at ``accounts``: a database with demo data, or an
        integrator's, holds accounts of its own that the cron would read too."""
        others = self.env['sms.router.account'].sudo().search([('id', 'not in', accounts.ids)])
        others.credit_checked_at = fields.Datetime.now()

    def _router_breaker_row(self, account):
        """The shared breaker row of ``account`` as a dict (None when never written)."""
        self.env.cr.execute(SQL("SELECT * FROM sms_router_breaker WHERE account_id = %s", account.id))
        return self.env.cr.dictfetchone()

    def _router_age_breaker(self, account, seconds):
        """Move the opening of ``account``'s breaker ``seconds`` into the past (cool-down over)."""
        self.env.cr.execute(SQL(
            "UPDATE sms_router_breaker SET opened_at = opened_at - make_interval(secs => %s) "
            "WHERE account_id = %s", seconds, account.id))
        account.invalidate_recordset()

    def _router_account_row(self, account):
        """The database row of ``account`` as a dict, every column (secrets included)."""
        self.env.cr.execute(SQL('SELECT * FROM sms_router_account WHERE id = %s', account.id))
        return self.env.cr.dictfetchone()

    def _router_neutralize(self, modules=None):
        """Run the neutralization queries in the test transaction, as ``odoo-bin
        neutralize`` does (those of every installed module unless ``modules`` is given)."""
        self.env.flush_all()
        if modules is None:
            modules = get_installed_modules(self.env.cr)
        for query in get_neutralization_queries(modules):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        # The per-process client cache is keyed by write_date, which SQL leaves alone; a
        # neutralized copy is never served by the process that sent from the original.
        self.forgetRouterClients()

    def _router_process_queue(self):
        """Run the SMS queue cron's method as the scheduled action does: as superuser, on a
        cursor of its own (it commits its progress; in tests that cursor shares the test
        transaction)."""
        self.env.flush_all()
        with self.env.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})['sms.sms']._process_queue()
        self.env.invalidate_all()

    def _router_attempts(self, sms):
        return self.env['sms.router.attempt'].search([('sms_uuid', 'in', sms.mapped('uuid'))], order='id')

    # ------------------------------------------------------------------ mocks

    @contextmanager
    def mockRouterClients(self, behaviours):
        """Replace the engine client of each account in ``behaviours`` ({account: behaviour}).

        A behaviour is what ScriptedClient accepts, or a ScriptedClient built by the test
        (e.g. with ``max_recipients`` or ``configuration_error``); its calls are recorded too.
        """
        self.router_calls = []
        clients = {}
        for account, behaviour in behaviours.items():
            if isinstance(behaviour, ScriptedClient):
                behaviour.calls = self.router_calls
                clients[account.id] = behaviour
            else:
                clients[account.id] = ScriptedClient(account.name, behaviour, calls=self.router_calls)
        original = SmsRouterAccount._sms_router_client

        def _sms_router_client(account):
            return clients.get(account.id) or original(account)

        with patch.object(SmsRouterAccount, '_sms_router_client', _sms_router_client):
            yield clients

    def routerRecipients(self, account=None):
        """E.164 numbers sent to ``account`` (or to any account), in call order."""
        return [recipient.number for request in self.routerCalls(account) for recipient in request.recipients]

    def routerCalls(self, account=None):
        return [request for name, request in self.router_calls if account is None or name == account.name]

    # ------------------------------------------------------------- assertions

    def assertRouterTrail(self, sms, expected):
        """``expected``: list of (account, account name or False for a line without one,
        outcome value) in order."""
        attempts = self._router_attempts(sms)
        got = [(attempt.account_name, attempt.outcome) for attempt in attempts]
        wanted = [(account if isinstance(account, (str, bool)) else account.name, outcome)
                  for account, outcome in expected]
        self.assertEqual(got, wanted, f'unexpected attempt trail for {sms.number}')
        return attempts


def admin_reads_french(env):
    """The administrator of the tours reads French; the country names (base) are French too."""
    env['res.lang']._activate_lang('fr_FR')
    modules = env['ir.module.module'].search([('name', 'in', ('base', 'web', 'mail', 'sms', 'sms_router'))])
    modules._update_translations('fr_FR')
    env.ref('base.user_admin').lang = 'fr_FR'

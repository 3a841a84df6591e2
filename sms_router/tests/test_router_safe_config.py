"""Safe configuration: what cannot be saved, what is said when the configuration does not do
what it seems to (Odoo's own Twilio setting), and what operators read (labels, unknown
credits, Outgoing SMS, the chatter's failure popover, the Settings block)."""
import ast
import contextlib
from unittest.mock import patch

from lxml import etree

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.mail.tools.discuss import Store

from ..engine.outcomes import OutcomeKind
from ..models.res_company import ResCompany
from ..tools.sms_api import SmsRouterApi
from .common import SmsRouterCase


@tagged('post_install', '-at_install', 'sms_router')
class TestRouterSafeConfig(SmsRouterCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_fr.sms_router_iap_last_resort = False
        cls.primary = cls._router_account(cls, cls.company_fr, 'Primary FR')
        cls.fallback = cls._router_account(cls, cls.company_fr, 'Fallback FR')
        cls.route = cls._router_route(cls, cls.company_fr, cls.primary | cls.fallback, name='Default FR')
        cls.partner_fr = cls.env['res.partner'].create({
            'name': 'Camille Martin', 'phone': '+33 6 12 34 56 78',
            'country_id': cls.env.ref('base.fr').id, 'company_id': cls.company_fr.id,
        })

    @contextlib.contextmanager
    def assertRefused(self, pattern):
        """A ValidationError matching ``pattern``, its changes rolled back (a savepoint)."""
        with self.assertRaises(ValidationError) as caught:
            yield
        self.assertRegex(str(caught.exception), pattern)

    def form_arch(self, model, view_type='form', action=None):
        views = self.env[model].get_views([(False if action is None else action, view_type)])
        return etree.fromstring(views['views'][view_type]['arch'])

    # ------------------------------------------------------------ routes

    def test_active_route_needs_an_active_account(self):
        with self.assertRefused('needs at least one active account'):
            self._router_route(self.company_fr, self.env['sms.router.account'], name='Empty', prefixes='+44')
        archived = self._router_account(self.company_fr, 'Archived FR', active=False)
        with self.assertRefused('needs at least one active account'):
            self._router_route(self.company_fr, archived, name='Only archived', prefixes='+44')
        # Removing the last account, archiving it, or leaving only archived ones is refused.
        single = self._router_route(self.company_fr, self.fallback, name='UK', prefixes='+44')
        with self.assertRefused('needs at least one active account'):
            single.step_ids = [(5, 0, 0)]
        with self.assertRefused('needs at least one active account'):
            single.step_ids.unlink()
        with self.assertRefused('needs at least one active account'):
            self.fallback.active = False
        # An archived route may be empty.
        single.active = False
        single.step_ids = [(5, 0, 0)]
        self._router_route(self.company_fr, self.env['sms.router.account'], name='Draft', prefixes='+49',
                           active=False)

    def test_one_default_route_per_company_and_traffic(self):
        with self.assertRefused('"Default FR" is already the default route'):
            self._router_route(self.company_fr, self.fallback, name='Second default')
        # Another traffic, another company, an archived route, or a route with prefixes: fine.
        self._router_route(self.company_fr, self.fallback, name='Marketing default', traffic_type='marketing')
        self._router_route(self.company_gb, self._router_account(self.company_gb, 'GB'), name='GB default')
        archived = self._router_route(self.company_fr, self.fallback, name='Old default', active=False)
        with self.assertRefused('is already the default route'):
            archived.active = True
        with self.assertRefused('is already the default route'):
            self._router_route(self.company_fr, self.fallback, name='France', prefixes='+33').prefixes = False

    # ------------------------------------------------------------ Odoo's own Twilio

    def _apis(self, sms):
        return {type(api) for api, _records in sms._split_by_api()}

    def test_odoo_twilio_setting_wins_and_says_so(self):
        """A company set to "Send via Twilio" in Odoo's settings (sms_twilio) sends through
        Odoo's Twilio integration: its routes are not used, and the Settings and the routes
        say so. Without sms_twilio, the setting is played by a patch."""
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertTrue(self.company_fr._sms_router_is_enabled())
        self.assertEqual(self._apis(sms), {SmsRouterApi})
        self.assertFalse(settings.sms_router_warning)
        self.assertFalse(self.route.sms_router_warning)

        if 'sms_provider' in self.env['res.company']._fields:
            self.company_fr.sms_provider = 'twilio'
            uses_twilio = contextlib.nullcontext()
        else:
            uses_twilio = patch.object(ResCompany, '_sms_router_uses_odoo_twilio', lambda company: True)
        with uses_twilio:
            self.env.invalidate_all()
            self.assertFalse(self.company_fr._sms_router_is_enabled())
            self.assertNotIn(SmsRouterApi, self._apis(sms), 'the router does not send it')
            self.assertFalse(sms._sms_router_any_routed())
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            for warning in (settings.sms_router_warning, self.route.sms_router_warning):
                self.assertIn('Router FR is set to "Send via Twilio"', warning)
                self.assertIn('its routes are not used', warning)
            # The other company keeps its routes.
            self.assertFalse(self.env['res.config.settings'].with_company(self.company_gb).create({})
                             .sms_router_warning)
        if 'sms_provider' in self.env['res.company']._fields:
            self.company_fr.sms_provider = 'iap'
            self.env.invalidate_all()
            self.assertEqual(self._apis(sms), {SmsRouterApi})
            self.assertFalse(self.route.sms_router_warning)
        for model in ('res.config.settings', 'sms.router.route'):
            self.assertTrue(self.form_arch(model).xpath('//field[@name="sms_router_warning"]'), model)

    # ------------------------------------------------------------ account form

    def test_odoo_iap_account_form_has_no_empty_section(self):
        arch = self.form_arch('sms.router.account')
        page = arch.xpath('//page[@name="provider"]')[0]
        self.assertEqual(page.get('invisible'), "sms_provider == 'iap'",
                         'credentials, options and endpoints: nothing to set for Odoo IAP')
        self.assertEqual(arch.xpath('//group[@name="credit"]')[0].get('invisible'), 'not credit_supported')
        self.assertIn("sms_provider == 'iap'", arch.xpath('//field[@name="sender_id"]')[0].get('invisible'),
                      'Odoo IAP sends without a sender ID')
        iap = self._router_account(self.company_fr, 'IAP FR')
        self.assertFalse(iap.credit_supported)
        self.assertFalse(iap.webhook_help)
        # Every group left visible for Odoo IAP has something in it.
        for group in arch.xpath('//sheet//group[not(ancestor-or-self::*[@invisible])]'):
            self.assertTrue(len(group), f'empty group {group.get("name") or group.get("string")}')

    # ------------------------------------------------------------ credits

    def test_credit_never_read_is_unknown(self):
        Account = self.registry['sms.router.account']
        with patch.object(Account, '_sms_router_supports_credit', lambda account: True), \
                patch.object(Account, '_sms_router_fetch_credit', lambda account, timeout=None: {}):
            self.env['sms.router.account'].invalidate_model(['credit_supported'])
            self.assertEqual(self.primary.credit_display, 'Unknown')
            summary = self.env['res.config.settings']._sms_router_credit_lines(self.primary | self.fallback)
            self.assertIn('credit unknown', summary)
            self.assertIn('Never read yet', summary)
            self.assertNotIn('0.00', summary)
            self.primary._sms_router_store_credit({'credit_balance': 0.0})
            self.assertEqual(self.primary.credit_display, '0.00', 'read: a real zero')
        self.env['sms.router.account'].invalidate_model(['credit_supported'])
        for view_type in ('list', 'form'):
            arch = self.form_arch('sms.router.account', view_type)
            self.assertTrue(arch.xpath('//field[@name="credit_display"]'), view_type)
        list_arch = self.form_arch('sms.router.account', 'list')
        self.assertFalse(list_arch.xpath('//field[@name="credit_balance"]'), 'the list shows credit_display only')

    # ------------------------------------------------------------ labels

    def test_selections_show_their_labels(self):
        sms = self._router_sms(self.company_fr, ['+33612345678'])
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            sms.send()
        attempts = self._router_attempts(sms)
        providers = dict(self.env['sms.router.account']._fields['sms_provider']._description_selection(self.env))
        attempt_providers = dict(attempts._fields['sms_provider']._description_selection(self.env))
        self.assertEqual(attempt_providers, providers, 'every provider by its name (Odoo IAP, Sweego...)')
        self.assertEqual(attempt_providers['iap'], 'Odoo IAP')
        self.assertEqual(attempts.mapped('sms_provider'), ['scripted', 'scripted'], 'a fake keeps its value')
        # The reason names outcomes as the Outcome column does, not by their technical values.
        reason = sms.sms_router_failure_reason
        self.assertIn('1. Primary FR: provider error:', reason)
        self.assertIn('2. Fallback FR: account error:', reason)
        outcome_labels = dict(attempts._fields['outcome']._description_selection(self.env))
        self.assertEqual(outcome_labels['provider_error'], 'Provider error')
        # The views show selections, never raw values in char fields.
        for model in ('sms.router.attempt', 'sms.router.account', 'sms.router.route'):
            for field in self.form_arch(model, 'list').xpath('//field'):
                name = field.get('name')
                if name in ('sms_provider', 'outcome', 'traffic_type', 'delivery_state', 'breaker_state'):
                    self.assertEqual(self.env[model]._fields[name].type, 'selection', f'{model}.{name}')

    # ------------------------------------------------------------ Outgoing SMS

    def test_outgoing_sms_lists_queued_held_and_failed_sms(self):
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_sms_action')
        menu = self.env.ref('sms_router.sms_router_sms_menu')
        self.assertEqual(menu.action, self.env.ref('sms_router.sms_router_sms_action'))
        self.env['sms.sms'].search([]).unlink()
        queued = self._router_sms(self.company_fr, ['+33612345670'])
        held, failed, sent = self._router_sms(self.company_fr, ['+33612345671', '+33612345672', '+33612345673'])
        self.company_fr.sms_router_max_hold_hours = 4
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.PROVIDER}):
            held.send()
        self.company_fr.sms_router_max_hold_hours = 0
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            failed.send()
        with self.mockRouterClients({self.primary: OutcomeKind.SENT}):
            sent.send()
        self.assertEqual((queued.state, held.state, failed.state), ('outgoing', 'outgoing', 'error'))
        self.assertTrue(held.sms_router_hold_until)

        search = self.env['sms.sms'].get_views([(action['search_view_id'][0], 'search')])
        search_arch = etree.fromstring(search['views']['search']['arch'])
        default_filter = search_arch.xpath('//filter[@name="to_handle"]')[0].get('domain')
        self.assertEqual(ast.literal_eval(action['context']), {'search_default_to_handle': 1})
        listed = self.env['sms.sms'].search(
            fields.Domain(ast.literal_eval(action['domain'])) & fields.Domain(ast.literal_eval(default_filter)))
        self.assertEqual(listed, queued | held | failed, 'what is still to be sent or looked at')
        self.assertNotIn(sent, listed)
        self.assertEqual(held.sms_router_attempt_count, 2)
        self.assertEqual(queued.sms_router_attempt_count, 0)

        list_view = next(view_id for view_id, mode in action['views'] if mode == 'list')
        arch = self.form_arch('sms.sms', 'list', action=list_view)
        columns = {field.get('name') for field in arch.xpath('//field')}
        self.assertLessEqual({'state', 'sms_router_hold_until', 'sms_router_reason', 'failure_type',
                              'sms_router_attempt_count'}, columns)
        self.assertIn('Waiting for a provider until', held.sms_router_reason)
        self.assertIn('all 2 attempts failed: 1. Primary FR: provider error', failed.sms_router_reason)
        self.assertFalse(queued.sms_router_reason)
        self.assertTrue(arch.xpath('//button[@name="action_sms_router_view_attempts"]'))
        attempts_action = failed.action_sms_router_view_attempts()
        self.assertEqual(self.env['sms.router.attempt'].search(attempts_action['domain']),
                         self._router_attempts(failed))

    # ------------------------------------------------------------ chatter

    def test_failure_popover_shows_the_router_reason(self):
        with self.mockRouterClients({self.primary: OutcomeKind.PROVIDER, self.fallback: OutcomeKind.ACCOUNT}):
            message = self.partner_fr._message_sms('Your results are ready')
        notification = message.notification_ids.filtered(lambda n: n.notification_type == 'sms')
        self.assertEqual(notification.notification_status, 'exception')
        self.assertIn('1. Primary FR: provider error', notification.failure_reason)
        data = Store().add(message).get_result()
        stored = next(n for n in data['mail.notification'] if n['id'] == notification.id)
        self.assertEqual(stored['failure_type'], 'sms_acc')
        self.assertEqual(stored['failure_reason'], notification.failure_reason,
                         'the popover gets the router reason with the failure type')
        # E-mail notifications keep their reason server-side.
        follower = self.env['res.partner'].create({'name': 'Follower', 'email': 'follower@example.com'})
        email = self.env['mail.notification'].create({
            'mail_message_id': message.id, 'res_partner_id': follower.id, 'notification_type': 'email',
            'notification_status': 'exception', 'failure_type': 'mail_smtp', 'failure_reason': 'SMTP 550'})
        stored = next(n for n in Store().add(email).get_result()['mail.notification'])
        self.assertNotIn('failure_reason', stored)

    # ------------------------------------------------------------ Settings

    def test_settings_block_names_its_company_with_help_texts(self):
        arch = self.form_arch('res.config.settings')
        self.assertTrue(arch.xpath('//setting[@id="sms_router"]//field[@name="sms_router_company_name"]'))
        settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
        self.assertEqual(settings.sms_router_company_name, 'Router FR')
        for name in ('sms_router_iap_last_resort', 'sms_router_timeout_policy', 'sms_router_max_hold_hours'):
            setting = arch.xpath(f'//setting[field[@name="{name}"]]')
            self.assertEqual(len(setting), 1, name)
            self.assertTrue(setting[0].get('help'), f'{name} shows its help text')
            self.assertEqual(setting[0].get('company_dependent'), '1')

    def test_settings_credit_is_one_readable_line_per_account(self):
        self.primary.write({'credit_balance': 1234.5, 'credit_checked_at': fields.Datetime.now(),
                            'credit_expiry': '2031-12-31', 'credit_low_threshold': 2000.0})
        self.fallback.write({'credit_error': 'HTTP 503'})
        Account = self.registry['sms.router.account']
        with patch.object(Account, '_sms_router_supports_credit', lambda account: True), \
                patch.object(Account, '_sms_router_refresh_credit_quietly', lambda accounts, **kw: accounts.browse()):
            self.env['sms.router.account'].invalidate_model(['credit_supported'])
            settings = self.env['res.config.settings'].with_company(self.company_fr).create({})
            summary = settings.sms_router_credit_summary
        self.env['sms.router.account'].invalidate_model(['credit_supported'])
        lines = etree.fromstring(str(summary)).xpath('//li')
        self.assertEqual(len(lines), 2, 'one line per account')
        first, second = (' '.join(''.join(line.itertext()).split()) for line in lines)
        self.assertIn('Primary FR (Odoo IAP): 1,234.50 left, expires 12/31/2031. Read ', first)
        self.assertIn('Below the threshold of 2,000.00: skipped until topped up.', first)
        self.assertIn('Fallback FR (Odoo IAP): credit unknown. Never read yet.', second)
        self.assertIn('Last refresh failed: HTTP 503', second)
        arch = self.form_arch('res.config.settings')
        self.assertTrue(arch.xpath('//field[@name="sms_router_credit_summary"]'))

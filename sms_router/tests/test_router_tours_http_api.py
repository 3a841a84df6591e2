"""An HTTP API account made in the web client, as an administrator does it: created from a
template, only the credentials and the sender typed; a configuration broken by hand refused on
save with what to fix. The tour is static/tests/tours/sms_router_http_api_account_tour.js; it
runs in English and in French (it picks its expected labels by the user's language).
"""
import json

from odoo.tests import HttpCase, tagged

from odoo.addons.sms_router.engine.http_templates import load_template

from .common import admin_reads_french

@tagged('post_install', '-at_install', 'sms_router')
class TestRouterToursHttpApi(HttpCase):

    def _in_french(self):
        admin_reads_french(self.env)

    def test_http_api_account_tour(self):
        """The account saved by the tour has Plivo's configuration, the credentials and the
        sender typed, a callback token; the broken URL was discarded."""
        self.start_tour('/odoo', 'sms_router_http_api_account_tour', login='admin')
        self.env.invalidate_all()
        account = self.env['sms.router.account'].with_context(active_test=False).search(
            [('name', '=', 'Tour Plivo')])
        self.assertEqual(len(account), 1)
        spec = load_template('plivo')['spec']
        self.assertEqual(account.sms_provider, 'http_api')
        self.assertEqual(account.http_api_template, 'plivo')
        self.assertEqual(account.http_api_base_url, 'https://api.plivo.com')
        self.assertEqual(account.http_api_method, spec['method'])
        self.assertEqual(account.http_api_url, spec['url'])
        self.assertEqual(account.http_api_body_type, spec['body_type'])
        self.assertEqual(json.loads(account.http_api_body), spec['body'])
        self.assertEqual(json.loads(account.http_api_headers), spec['headers'])
        self.assertEqual(account.http_api_auth_type, 'basic')
        self.assertEqual(account.http_api_auth_username, '{username}')
        self.assertEqual(account.http_api_auth_password, '{api_key}')
        self.assertEqual(json.loads(account.http_api_report), spec['report'])
        self.assertEqual(account.sender_id, '+14155550100')
        self.assertEqual(account.sudo().http_api_username, 'MATOURAUTHID0000000')
        self.assertEqual(account.sudo().http_api_key, 'tour-plivo-auth-token')
        self.assertTrue(account.sudo().http_api_callback_token)
        self.assertIn('/sms_router/http_api/report/%d/' % account.id, account.delivery_report_url)
        # The spec the engine builds from it is valid: the account can make its client.
        account._http_api_loaded_spec()

    def test_http_api_account_tour_french(self):
        """The same in French: the tab, the template's note and credential labels, the error."""
        self._in_french()
        self.test_http_api_account_tour()

import responses

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.sms_router.tests.common import route_requests_through_responses

from .common import ACCOUNT_URL, TwilioRouterCase, twilio_error

FR_NUMBER = '+33612345678'


@tagged('post_install', '-at_install', 'sms_router_twilio')
@route_requests_through_responses
class TestTwilioFrench(TwilioRouterCase):
    """The Twilio addon in French (i18n/fr.po): labels and messages in the reader's language,
    reasons stored in the sending company's; Twilio's own words stay as Twilio wrote them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['res.lang']._activate_lang('fr_FR')
        # Field labels live in the database: load them as installing the language would.
        cls.env['ir.module.module']._load_module_terms(['sms_router', 'sms_router_twilio'], ['fr_FR'])
        cls.company_fr.partner_id.lang = 'fr_FR'
        cls.company_fr.sms_router_iap_last_resort = False

    def setUp(self):
        super().setUp()
        self.twilio = self._twilio_account(self.company_fr, 'Twilio FR')
        self.env_fr = self.env(context=dict(self.env.context, lang='fr_FR'))

    def test_field_labels_in_french(self):
        fields = self.env_fr['sms.router.account'].fields_get(
            ['twilio_auth_token', 'twilio_account_sid', 'twilio_sender_type'], ['string', 'selection'])
        self.assertEqual(fields['twilio_auth_token']['string'], "Jeton d'authentification Twilio")
        self.assertEqual(fields['twilio_account_sid']['string'], 'SID du compte Twilio')
        self.assertIn(('numbers', "Numéros d'expéditeur"), fields['twilio_sender_type']['selection'])
        # English users keep the English labels.
        self.assertEqual(self.env['sms.router.account'].fields_get(['twilio_auth_token'], ['string'])
                         ['twilio_auth_token']['string'], 'Twilio Auth Token')

    def test_messages_in_french(self):
        account = self.twilio.with_env(self.env_fr)
        account.sudo().twilio_auth_token = False
        self.assertEqual(
            account.twilio_webhook_warning,
            "Sans le jeton d'authentification, les rapports de livraison ne peuvent pas être demandés à "
            "Twilio et les SMS entrants (réponses STOP) sont refusés : leur signature ne peut pas être "
            "vérifiée.")
        with self.assertRaises(ValidationError) as caught:
            self.env_fr['sms.router.twilio.number'].create({'account_id': self.twilio.id, 'number': 'not a number!'})
        self.assertEqual(
            str(caught.exception),
            "\"not a number!\" n'est ni un numéro de téléphone au format international (par ex. +33757000000) "
            "ni un ID d'expéditeur alphanumérique (jusqu'à 11 lettres, chiffres ou espaces).")

    def test_client_reasons_in_the_readers_language(self):
        # A reason written by the framework-free client (checks of the SIDs), shown in French.
        with self.assertRaises(ValidationError) as caught:
            self.twilio.with_env(self.env_fr).twilio_api_key_sid = 'SK-wrong'
        self.assertEqual(str(caught.exception), (
            "Compte Twilio \"Twilio FR\" : le SID de la clé API est mal formé : il doit commencer par 'SK', "
            "suivi de 32 caractères hexadécimaux (34 caractères au total)."))
        # Twilio's refusal of a connection test: our words in French, Twilio's as it wrote them.
        with responses.RequestsMock() as rsps:
            rsps.add(responses.GET, ACCOUNT_URL, json=twilio_error(20003, 'Authenticate', 401), status=401)
            with self.assertRaises(UserError) as caught:
                self.twilio.with_env(self.env_fr)._sms_router_test_connection()
            self.assertEqual(str(caught.exception),
                             'Twilio : erreur 20003 (HTTP 401) : Authenticate lors de la lecture du compte')
            with self.assertRaises(UserError) as caught:
                self.twilio._sms_router_test_connection()
            self.assertEqual(str(caught.exception),
                             'Twilio: error 20003 (HTTP 401): Authenticate while fetching the account')

    def test_refused_sms_of_a_french_company_reads_french(self):
        self._router_route(self.company_fr, self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_refuses(rsps, 21211, "The 'To' number is not a valid phone number.")
            sms.with_context(lang='en_US').send()     # sent by an English-speaking user
        attempts = self.assertRouterTrail(sms, [(self.twilio, 'recipient_error')])
        self.assertEqual(attempts.reason,
                         "Twilio : erreur 21211 (HTTP 400) : The 'To' number is not a valid phone number.")
        self.assertIn(attempts.reason, sms.sms_router_failure_reason)

    def test_delivery_report_of_a_french_company_reads_french(self):
        self._router_route(self.company_fr, self.twilio)
        sms = self._router_sms(self.company_fr, [FR_NUMBER])
        with responses.RequestsMock() as rsps:
            self._twilio_accepts(rsps)
            sms.send()
        attempt = self.assertRouterTrail(sms, [(self.twilio, 'sent')])
        response = self._post_signed(self.twilio, self._status_path(self.twilio, sms.uuid), {
            'MessageSid': attempt.message_id, 'MessageStatus': 'undelivered', 'To': FR_NUMBER,
            'ErrorCode': '30003', 'ErrorMessage': 'Unreachable destination handset'})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(attempt.delivery_reason,
                         'Twilio : undelivered (erreur 30003) : Unreachable destination handset')

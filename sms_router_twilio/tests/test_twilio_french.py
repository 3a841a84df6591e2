from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TwilioRouterCase


@tagged('post_install', '-at_install', 'sms_router_twilio')
class TestTwilioFrench(TwilioRouterCase):
    """A French user reads the Twilio addon in French (i18n/fr.po): labels and messages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['res.lang']._activate_lang('fr_FR')
        # Field labels live in the database: load them as installing the language would.
        cls.env['ir.module.module']._load_module_terms(['sms_router', 'sms_router_twilio'], ['fr_FR'])

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
            "ni un identifiant d'expéditeur alphanumérique (jusqu'à 11 lettres, chiffres ou espaces).")

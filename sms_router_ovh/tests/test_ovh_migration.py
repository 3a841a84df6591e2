import importlib.util
from pathlib import Path

from odoo.tests import TransactionCase, tagged

MIGRATION = Path(__file__).resolve().parent.parent / 'migrations' / '19.0.1.1.0' / 'post-migration.py'


def load_migration():
    spec = importlib.util.spec_from_file_location('sms_router_ovh_migration_19_0_1_1_0', MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged('post_install', '-at_install', 'sms_router_ovh')
class TestOvhMigration(TransactionCase):
    """A database updated from 19.0.1.0.0: OVH's scheduled action (noupdate) pulls delivery
    states only, and its credit parameter becomes the router's."""

    def _old_database(self, old_minutes='30', new_minutes=None):
        cron = self.env.ref('sms_router_ovh.ir_cron_sms_router_ovh')
        cron.write({'name': 'SMS Router: OVH delivery states and credit', 'code': 'model._cron_sms_router_ovh()'})
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('sms_router_ovh.credit_refresh_minutes', old_minutes)
        params.set_param('sms_router.credit_refresh_minutes', new_minutes or False)
        return cron, params

    def test_cron_and_parameter_updated(self):
        cron, params = self._old_database()
        load_migration().migrate(self.env.cr, '19.0.1.0.0')
        self.assertEqual(cron.name, 'SMS Router: OVH delivery states')
        self.assertEqual(cron.code, 'model._cron_sms_router_ovh_pull_deliveries()')
        self.assertEqual(params.get_param('sms_router.credit_refresh_minutes'), '30')
        self.assertFalse(params.search([('key', '=', 'sms_router_ovh.credit_refresh_minutes')]))

    def test_router_parameter_already_set_wins(self):
        _cron, params = self._old_database(old_minutes='0', new_minutes='45')
        load_migration().migrate(self.env.cr, '19.0.1.0.0')
        self.assertEqual(params.get_param('sms_router.credit_refresh_minutes'), '45')
        self.assertFalse(params.get_param('sms_router_ovh.credit_refresh_minutes'))

    def test_fresh_install_is_left_alone(self):
        cron, _params = self._old_database()
        load_migration().migrate(self.env.cr, None)
        self.assertEqual(cron.code, 'model._cron_sms_router_ovh()')

"""19.0.1.1.0: the credits of every provider are refreshed by the router's scheduled action
(sms_router.credit_refresh_minutes); OVH's own scheduled action only pulls delivery states.

Its record is kept (same xml id), but it is noupdate: its name and code are set here. The
old sms_router_ovh.credit_refresh_minutes becomes sms_router.credit_refresh_minutes unless
that one is already set.
"""
import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)

OLD_PARAM = 'sms_router_ovh.credit_refresh_minutes'
NEW_PARAM = 'sms_router.credit_refresh_minutes'


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref('sms_router_ovh.ir_cron_sms_router_ovh', raise_if_not_found=False)
    if cron:
        cron.write({'name': 'SMS Router: OVH delivery states',
                    'code': 'model._cron_sms_router_ovh_pull_deliveries()'})
    params = env['ir.config_parameter']
    old = params.search([('key', '=', OLD_PARAM)])
    if old:
        if not params.get_param(NEW_PARAM):
            params.set_param(NEW_PARAM, old.value)
            _logger.info('SMS router OVH: %s=%s moved to %s', OLD_PARAM, old.value, NEW_PARAM)
        old.unlink()

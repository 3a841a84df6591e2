from odoo.http import request, route

from odoo.addons.sms.controllers.main import SmsController


class SmsRouterIapStatusController(SmsController):

    @route()
    def update_sms_status(self, message_statuses):
        """Odoo IAP's delivery reports: Odoo's own handling (trackers), then the router's trail."""
        result = super().update_sms_status(message_statuses)
        attempts = request.env['sms.router.attempt'].sudo()
        for status in message_statuses:
            attempts._sms_router_receive_iap_reports(status['uuids'], status['sms_status'])
        return result

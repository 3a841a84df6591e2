from odoo import models

from odoo.addons.mail.tools.discuss import Store


class MailNotification(models.Model):
    _inherit = 'mail.notification'

    def _to_store_defaults(self, target):
        # The chatter's failure popover shows the reason of a failed SMS (the router writes
        # its own, naming every attempt) and why a queued one waits for a provider; see
        # static/src/core/notification_model_patch.js. E-mail reasons stay server-side.
        return [*super()._to_store_defaults(target),
                Store.Attr('failure_reason', predicate=lambda notification: notification.notification_type == 'sms')]

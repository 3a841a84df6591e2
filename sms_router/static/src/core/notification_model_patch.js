import { Notification } from "@mail/core/common/notification_model";
import { patch } from "@web/core/utils/patch";

/**
 * SMS notifications carry the router's reason (``failure_reason``, sent by the server for
 * SMS only): the chatter's failure popover shows it after Odoo's label of the failure type,
 * and the status icon's tooltip says why a queued SMS is waiting for a provider.
 */
patch(Notification.prototype, {
    get failureMessage() {
        const message = super.failureMessage;
        if (this.notification_type === "sms" && this.failure_reason) {
            return `${message}: ${this.failure_reason}`;
        }
        return message;
    },
    get statusTitle() {
        const title = super.statusTitle;
        if (this.notification_type === "sms" && !this.isFailure && this.failure_reason) {
            return `${title}: ${this.failure_reason}`;
        }
        return title;
    },
});

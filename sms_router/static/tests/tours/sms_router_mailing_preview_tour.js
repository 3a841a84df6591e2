import { registry } from "@web/core/registry";
import { label } from "./sms_router_smart_tour_utils";

/**
 * On an SMS mailing's form, a marketer opens Actions > Preview Sending before sending it:
 * the recipients the mailing has left, the account that would send them and the estimated
 * cost; then closes it without sending (the test checks that nothing was sent or traced).
 *
 * Starts on the mailing's form (/odoo/action-mass_mailing_sms.mailing_mailing_action_sms/<id>).
 */
registry.category("web_tour.tours").add("sms_router_mailing_preview_tour", {
    steps: () => {
        const preview = ".modal .o_form_view";
        return [
            {
                content: "The mailing's form",
                trigger: ".o_form_view .o_form_sheet .o_field_widget[name=body_plaintext]",
            },
            {
                content: "Open the Actions menu",
                trigger: ".o_control_panel .o_cp_action_menus button:has(.fa-cog)",
                run: "click",
            },
            {
                content: "Preview Sending",
                trigger: `.o-dropdown--menu .o_menu_item:contains("${label("Preview Sending", "Aperçu de l'envoi")}")`,
                run: "click",
            },
            {
                content: "The preview opens",
                trigger: `.modal .modal-title:contains("${label("Preview Sending", "Aperçu de l'envoi")}")`,
            },
            {
                content: "3 recipients left to send to",
                trigger: `${preview} .o_field_widget[name=recipient_count]:contains(/^\\s*3\\s*$/)`,
            },
            {
                content: "3 SMS to send",
                trigger: `${preview} .o_field_widget[name=send_count]:contains(/^\\s*3\\s*$/)`,
            },
            {
                content: "Through the French route's first account",
                trigger: `${preview} div[name=account_ids] .o_data_row td[name=account_name]:contains('Tour OVH')`,
            },
            {
                content: "Close without sending",
                trigger: ".modal footer button.btn-secondary, .modal footer button[special=cancel]",
                run: "click",
            },
            {
                content: "Back on the mailing",
                trigger: "body:not(:has(.modal))",
            },
        ];
    },
});

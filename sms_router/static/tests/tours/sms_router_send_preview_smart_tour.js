import { registry } from "@web/core/registry";
import { label } from "./sms_router_smart_tour_utils";

// 181 GSM-7 characters: 2 segments per SMS.
const BODY =
    "Tour Clinic: your appointment is tomorrow at 10:00 with Dr Martin, room 12. " +
    "Please bring your card and arrive 10 minutes early. Reply STOP to opt out of these reminders, or call us.";

/**
 * From the contacts list, an operator selects three contacts, Actions > Send SMS, writes a
 * message of 2 segments and clicks Preview Sending before sending: per account, the SMS,
 * segments and estimated cost, the totals, the details per destination; then closes it
 * without sending (the test checks that nothing was sent).
 *
 * Starts on the contacts list (/odoo/action-base.action_partner_form). Amounts are matched
 * with a regular expression whose "." stands for either decimal separator.
 */
registry.category("web_tour.tours").add("sms_router_send_preview_smart_tour", {
    steps: () => {
        const preview = ".modal .o_form_view";
        const ovhTotal = `${preview} div[name=account_ids] .o_data_row:has(td[name=account_name]:contains('Tour OVH'))`;
        const franceLine = `${preview} div[name=line_ids] .o_data_row:has(td[name=country_id]:contains('France'))`;
        return [
            {
                content: "Search the contacts to send to",
                trigger: ".o_control_panel .o_searchview_input",
                run: "edit Tour Recipient",
            },
            {
                content: "Search them by name",
                trigger: ".o_searchview_autocomplete .o-dropdown-item:first",
                run: "click",
            },
            {
                content: "The search is applied",
                trigger: ".o_searchview_facet:contains('Tour Recipient')",
            },
            {
                content: "Three contacts, those only",
                trigger: ".o_list_view .o_data_row:count(3):contains('Tour Recipient')",
            },
            {
                content: "Select them all",
                trigger: ".o_list_view thead .o_list_record_selector input",
                run: "click",
            },
            {
                content: "Open the Actions menu",
                trigger: ".o_control_panel .o_cp_action_menus button:has(.fa-cog)",
                run: "click",
            },
            {
                content: "Send SMS",
                trigger: `.o-dropdown--menu .o_menu_item:contains("${label("Send SMS", "Envoyer un SMS")}")`,
                run: "click",
            },
            {
                content: "Write the message",
                trigger: ".modal .o_field_widget[name=body] textarea",
                run: `edit ${BODY} && press Tab`,
            },
            {
                content: "The router counts 2 SMS for it",
                trigger: ".modal .o_sms_router_count:contains(/GSM-7\\s*:\\s*2 SMS/)",
            },
            {
                content: "Preview Sending",
                trigger: `.modal footer button[name=action_sms_router_preview]:contains("${label("Preview Sending", "Aperçu de l'envoi")}")`,
                run: "click",
            },
            {
                content: "The preview opens",
                trigger: `.modal .modal-title:contains("${label("Preview Sending", "Aperçu de l'envoi")}")`,
            },
            {
                content: "3 recipients",
                trigger: `${preview} .o_field_widget[name=recipient_count]:contains(/^\\s*3\\s*$/)`,
            },
            {
                content: "3 SMS to send",
                trigger: `${preview} .o_field_widget[name=send_count]:contains(/^\\s*3\\s*$/)`,
            },
            {
                content: "The totals",
                trigger: `${preview} .o_horizontal_separator:contains("${label("Totals", "Totaux")}")`,
            },
            {
                content: "6 segments in all",
                trigger: `${preview} .o_field_widget[name=segment_total]:contains(/^\\s*6\\s*$/)`,
            },
            {
                content: "Estimated cost: 6 segments at 0.045 EUR",
                trigger: `${preview} .o_field_widget[name=cost_summary]:contains(/^\\s*0.27 EUR\\s*$/)`,
            },
            {
                content: "Its label",
                trigger: `${preview} .o_wrap_label:contains("${label("Estimated Cost", "Coût estimé")}")`,
            },
            {
                content: "Per account: the tab",
                trigger: `${preview} .o_notebook a.nav-link[name=accounts]:contains("${label("Per Account", "Par compte")}")`,
            },
            {
                content: "OVH sends the 3 SMS",
                trigger: `${ovhTotal} td[name=sms_count]:contains(/^\\s*3\\s*$/)`,
            },
            {
                content: "of 2 segments each",
                trigger: `${ovhTotal} td[name=segments]:contains(/^\\s*6\\s*$/)`,
            },
            {
                content: "for 0.27 EUR",
                trigger: `${ovhTotal} td[name=cost]:contains(/^\\s*0.27/)`,
            },
            {
                content: "in euros",
                trigger: `${ovhTotal} td[name=currency_id]:contains('EUR')`,
            },
            {
                content: "No other account sends",
                trigger: `${preview} div[name=account_ids] .o_data_row:count(1)`,
            },
            {
                content: "The details",
                trigger: `${preview} .o_notebook a.nav-link[name=details]:contains("${label("Details", "Détails")}")`,
                run: "click",
            },
            {
                content: "France: through OVH",
                trigger: `${franceLine} td[name=account_name]:contains('Tour OVH')`,
            },
            {
                content: "leaves now",
                trigger: `${franceLine} td[name=status]:contains("${label("Leaves now", "Part maintenant")}")`,
            },
            {
                content: "2 segments per SMS",
                trigger: `${franceLine} td[name=segments_each]:contains(/^\\s*2\\s*$/)`,
            },
            {
                content: "at 0.045 per segment",
                trigger: `${franceLine} td[name=price]:contains(/^\\s*0.045/)`,
            },
            {
                content: "the recipients",
                trigger: `${franceLine} td[name=recipients_sample]:contains('Tour Recipient Alice')`,
            },
            {
                content: "Close without sending",
                trigger: ".modal .modal-footer button[special=cancel]",
                run: "click",
            },
            {
                content: "The dialog is gone",
                trigger: "body:not(:has(.modal))",
            },
        ];
    },
});

import { registry } from "@web/core/registry";
import { openRouterMenu, pickMany2one, saveForm } from "./sms_router_tour_utils";

/**
 * An operator adds a provider account, then a route whose failover chain is that account
 * followed by an existing one. The test checks the saved records.
 */
registry.category("web_tour.tours").add("sms_router_route_create_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_account_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "The accounts list is there",
            trigger: ".o_list_view .o_data_row:contains('Tour Backup')",
        },
        {
            content: "New account",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "edit Tour Primary",
        },
        {
            content: "Choose the provider",
            trigger: ".o_form_view .o_field_widget[name=sms_provider] .o_select_menu_toggler",
            run: "click",
        },
        {
            content: "Odoo IAP (it needs no credentials)",
            trigger: ".o_select_menu_item:contains('Odoo IAP')",
            run: "click",
        },
        ...saveForm(),
        ...openRouterMenu("sms_router.sms_router_route_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "New route",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "edit Tour France",
        },
        {
            content: "Its prefix",
            trigger: ".o_form_view .o_field_widget[name=prefixes] input",
            run: "edit +33",
        },
        {
            content: "Add the first account of the chain",
            trigger: "div[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        ...pickMany2one("div[name=step_ids] .o_data_row:eq(0) .o_field_widget[name=account_id] input",
            "Tour Primary"),
        {
            content: "Add the second account of the chain",
            trigger: "div[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        ...pickMany2one("div[name=step_ids] .o_data_row:eq(1) .o_field_widget[name=account_id] input",
            "Tour Backup"),
        ...saveForm(),
        {
            content: "The chain has both accounts, in that order",
            trigger: "div[name=step_ids] .o_data_row:eq(0) td[name=account_id]:contains('Tour Primary')",
        },
        {
            trigger: "div[name=step_ids] .o_data_row:eq(1) td[name=account_id]:contains('Tour Backup')",
        },
    ],
});

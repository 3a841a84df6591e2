import { localization } from "@web/core/l10n/localization";
import { registry } from "@web/core/registry";
import { openRouterMenu, pickMany2one, saveForm } from "./sms_router_tour_utils";

/**
 * An administrator adds a price on an account's Prices tab, finds it in Configuration >
 * Prices, then opens the Costs report: the SMS already sent are there with their cost, per
 * currency (a sum across currencies means nothing) and provider.
 *
 * Amounts are matched with a regular expression whose "." stands for either decimal
 * separator.
 */
registry.category("web_tour.tours").add("sms_router_prices_smart_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_account_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "Open the OVH account",
            trigger: ".o_list_view .o_data_row td[name=name]:contains('Tour OVH')",
            run: "click",
        },
        {
            content: "Its Prices button counts its two prices",
            trigger: ".o_form_view button[name=action_view_prices] .o_stat_value:contains('2')",
        },
        {
            content: "Open the Prices tab",
            trigger: ".o_form_view .o_notebook a.nav-link[name=prices]",
            run: "click",
        },
        {
            content: "The prices for France and Belgium are listed, in the account's currency",
            trigger: ".o_form_view div[name=price_ids] .o_data_row:eq(1) td[name=price]:contains(/0.04500/)",
        },
        {
            content: "Add a price",
            trigger: ".o_form_view div[name=price_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        ...pickMany2one("div[name=price_ids] .o_data_row:eq(2) .o_field_widget[name=country_id] input",
            "Portugal"),
        {
            content: "Its price per segment, written as the user writes numbers",
            trigger: "div[name=price_ids] .o_data_row:eq(2) .o_field_widget[name=price] input",
            run: `edit 0${localization.decimalPoint}0425`,
        },
        ...saveForm(),
        {
            content: "The new price is on the tab once saved",
            trigger: ".o_form_saved div[name=price_ids] .o_data_row:contains('Portugal') td[name=price]:contains(/0.04250/)",
        },
        {
            content: "and the Prices button counts it",
            trigger: ".o_form_view button[name=action_view_prices] .o_stat_value:contains('3')",
        },
        ...openRouterMenu("sms_router.sms_router_price_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "Configuration > Prices lists it with its account",
            trigger: ".o_list_view .o_data_row:has(td[name=account_id]:contains('Tour OVH')):has(td[name=country_id]:contains('Portugal')) td[name=price]:contains(/0.04250/)",
        },
        {
            content: "and the prices of the other accounts",
            trigger: ".o_list_view .o_data_row:has(td[name=account_id]:contains('Tour Sweego')) td[name=price]:contains(/0.05200/)",
        },
        ...openRouterMenu("sms_router.sms_router_cost_menu"),
        {
            content: "The Costs report shows the SMS sent, not sample data",
            trigger: ".o_action:not(:has(.o_view_sample_data)) .o_pivot table",
        },
        {
            content: "The costs in euros: 0.045 + 0.045 + 0.09 (OVH) + 0.052 (Sweego)",
            trigger: ".o_pivot tbody tr:has(th:contains('EUR')) td.o_pivot_cell_value:first:contains(/0.232/)",
        },
        {
            content: "The costs in dollars are apart: 0.0075 (Twilio)",
            trigger: ".o_pivot tbody tr:has(th:contains('USD')) td.o_pivot_cell_value:first:contains(/0.0075/)",
        },
        {
            content: "The rows go down to the provider",
            trigger: ".o_pivot tbody th:contains('Odoo IAP')",
        },
        {
            content: "The refused attempt is not counted: 5 accepted SMS in all",
            trigger: ".o_pivot tbody tr:first td.o_pivot_cell_value:last:contains(/^\\s*5\\s*$/)",
        },
        {
            content: "The graph of the costs",
            trigger: ".o_control_panel .o_switch_view.o_graph",
            run: "click",
        },
        {
            content: "draws them",
            trigger: ".o_action:not(:has(.o_view_sample_data)) .o_graph_renderer canvas",
        },
    ],
});

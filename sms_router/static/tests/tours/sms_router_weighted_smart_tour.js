import { registry } from "@web/core/registry";
import { openRouterMenu, saveForm } from "./sms_router_tour_utils";
import { label } from "./sms_router_smart_tour_utils";

/**
 * An administrator splits a route's SMS 70/30 between its two accounts (to keep the second
 * provider warm): the weights are typed in the chain, their total turns green at 100; the
 * route tester then tells the split and which account this number drew, first in the chain.
 */
registry.category("web_tour.tours").add("sms_router_weighted_smart_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_route_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "Open the French route",
            trigger: ".o_list_view .o_data_row td[name=name]:contains('Tour France')",
            run: "click",
        },
        {
            content: "No weights while the route sends in the chain's order",
            trigger: ".o_form_view div[name=step_ids]:not(:has(th[data-name=weight]))",
        },
        {
            content: "Open the strategies",
            trigger: ".o_form_view .o_field_widget[name=strategy] .o_select_menu_toggler",
            run: "click",
        },
        {
            content: "Weighted split",
            trigger: `.o_select_menu_item:contains("${label("Weighted split", "Répartition pondérée")}")`,
            run: "click",
        },
        {
            content: "The chain has a weight column now",
            trigger: ".o_form_view div[name=step_ids] th[data-name=weight]",
        },
        {
            content: "Edit OVH's step",
            trigger: ".o_form_view div[name=step_ids] .o_data_row:eq(0) td[name=weight]",
            run: "click",
        },
        {
            content: "70 % for OVH",
            trigger: ".o_form_view div[name=step_ids] .o_data_row:eq(0) .o_field_widget[name=weight] input",
            run: "edit 70",
        },
        {
            content: "Leave the line",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "click",
        },
        {
            content: "The total is 70, in red: it must be 100",
            trigger: ".o_form_view .o_field_widget[name=weight_total].text-danger:contains(/^\\s*70\\s*$/)",
        },
        {
            content: "Edit Sweego's step",
            trigger: ".o_form_view div[name=step_ids] .o_data_row:eq(1) td[name=weight]",
            run: "click",
        },
        {
            content: "30 % for Sweego",
            trigger: ".o_form_view div[name=step_ids] .o_data_row:eq(1) .o_field_widget[name=weight] input",
            run: "edit 30",
        },
        {
            content: "Leave the line",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "click",
        },
        {
            content: "The total is 100, in green",
            trigger: ".o_form_view .o_field_widget[name=weight_total].text-success:contains(/^\\s*100\\s*$/)",
        },
        ...saveForm(),
        ...openRouterMenu("sms_router.sms_router_route_tester_menu"),
        {
            content: "Type a French mobile number",
            trigger: ".modal .o_field_widget[name=number] input",
            run: "edit +33 6 12 34 56 78 && press Tab",
        },
        {
            content: "The explanation tells the split",
            trigger: ".modal .o_field_widget[name=strategy_reason]:contains(/^\\s*(weighted split|répartition pondérée) .Tour OVH 70\\s*%, Tour Sweego 30\\s*%./)",
        },
        {
            content: "The chain shows each account's weight",
            trigger: ".modal div[name=line_ids] .o_data_row:has(td[name=name]:contains('Tour OVH')) td[name=strategy_figure]:contains(/^\\s*70\\s*%\\s*$/)",
        },
        {
            trigger: ".modal div[name=line_ids] .o_data_row:has(td[name=name]:contains('Tour Sweego')) td[name=strategy_figure]:contains(/^\\s*30\\s*%\\s*$/)",
        },
        {
            content: "The account this number drew sends it, first in the chain, and the explanation names it",
            trigger: ".modal .o_field_widget[name=sender_name]:contains('Tour')",
            run() {
                const text = (selector) => document.querySelector(selector).textContent.trim();
                const sender = text(".modal .o_field_widget[name=sender_name]");
                const first = text(".modal div[name=line_ids] .o_data_row td[name=name]");
                const reason = text(".modal .o_field_widget[name=strategy_reason]");
                const drawn = reason.split(":").slice(1).join(":");
                if (sender !== first || !["Tour OVH", "Tour Sweego"].includes(sender) || !drawn.includes(sender)) {
                    throw new Error(`sends through "${sender}", chain starts with "${first}", explanation "${reason}"`);
                }
            },
        },
        {
            content: "Close the tester",
            trigger: ".modal .modal-footer button[special=cancel]",
            run: "click",
        },
        {
            content: "The dialog is gone",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

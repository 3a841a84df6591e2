import { registry } from "@web/core/registry";
import { openRouterMenu, saveForm } from "./sms_router_tour_utils";
import { label } from "./sms_router_smart_tour_utils";

/**
 * An administrator sets a route to send by least cost, then asks the route tester about a
 * number of that route: the tester explains the choice, the cheapest account first with its
 * price per segment, and orders the chain that way (the chain itself keeps its order).
 */
registry.category("web_tour.tours").add("sms_router_strategy_smart_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_route_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "The routes list shows each route's strategy",
            trigger: `.o_list_view .o_data_row:has(td[name=name]:contains('Tour Belgium')) td[name=strategy]:contains("${label("Ordered", "Ordre de la chaîne")}")`,
        },
        {
            content: "Open the Belgian route",
            trigger: ".o_list_view .o_data_row td[name=name]:contains('Tour Belgium')",
            run: "click",
        },
        {
            content: "Its chain: Sweego, then OVH",
            trigger: ".o_form_view div[name=step_ids] .o_data_row:eq(0) td[name=account_id]:contains('Tour Sweego')",
        },
        {
            content: "Open the strategies",
            trigger: ".o_form_view .o_field_widget[name=strategy] .o_select_menu_toggler",
            run: "click",
        },
        {
            content: "Least cost",
            trigger: `.o_select_menu_item:contains("${label("Least cost", "Moindre coût")}")`,
            run: "click",
        },
        {
            content: "The form says how the strategy uses the chain",
            trigger: `.o_form_view div.text-muted:contains("${label("route tester", "testeur de route")}")`,
        },
        ...saveForm(),
        {
            content: "Saved, the chain keeps its order",
            trigger: ".o_form_saved div[name=step_ids] .o_data_row:eq(0) td[name=account_id]:contains('Tour Sweego')",
        },
        ...openRouterMenu("sms_router.sms_router_route_tester_menu"),
        {
            content: "Type a Belgian mobile number",
            trigger: ".modal .o_field_widget[name=number] input",
            run: "edit +32 470 12 34 56 && press Tab",
        },
        {
            content: "The Belgian route",
            trigger: ".modal .o_field_widget[name=route_id]:contains('Tour Belgium')",
        },
        {
            content: "The explanation names OVH first at its price per segment, then Sweego at its price",
            trigger: ".modal .o_field_widget[name=strategy_reason]:contains(/^\\s*(least cost|moindre coût)\\W+Tour OVH\\D+0.045 EUR\\/segment, Tour Sweego 0.052\\s*$/)",
        },
        {
            content: "OVH would send it",
            trigger: ".modal .o_field_widget[name=sender_name]:contains('Tour OVH')",
        },
        {
            content: "The chain as the strategy orders it: OVH first, with its price",
            trigger: ".modal div[name=line_ids] .o_data_row:eq(0):has(td[name=name]:contains('Tour OVH')) td[name=strategy_figure]:contains(/0.045/)",
        },
        {
            content: "then Sweego, with its price",
            trigger: ".modal div[name=line_ids] .o_data_row:eq(1):has(td[name=name]:contains('Tour Sweego')) td[name=strategy_figure]:contains(/0.052/)",
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

import { registry } from "@web/core/registry";
import { openRouterMenu, saveForm } from "./sms_router_tour_utils";

/**
 * An operator moves the backup account to the head of a route's failover chain by dragging
 * its handle. The test checks the order saved in the database.
 */
registry.category("web_tour.tours").add("sms_router_chain_reorder_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_route_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "Open the route",
            trigger: ".o_list_view .o_data_row td[name=name]:contains('Tour Reorder')",
            run: "click",
        },
        {
            content: "The chain starts with the primary account",
            trigger: "div[name=step_ids] .o_data_row:eq(0) td[name=account_id]:contains('Tour Primary')",
        },
        {
            content: "Drag the backup account above it",
            trigger: "div[name=step_ids] .o_data_row:eq(1) .o_row_handle",
            run: "drag_and_drop(div[name=step_ids] .o_data_row:eq(0))",
        },
        {
            content: "The backup account is first now",
            trigger: "div[name=step_ids] .o_data_row:eq(0) td[name=account_id]:contains('Tour Backup')",
        },
        ...saveForm(),
        {
            content: "Still in that order once saved",
            trigger: ".o_form_saved div[name=step_ids] .o_data_row:eq(1) td[name=account_id]:contains('Tour Primary')",
        },
    ],
});

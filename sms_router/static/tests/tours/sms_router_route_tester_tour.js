import { registry } from "@web/core/registry";
import { openRouterMenu } from "./sms_router_tour_utils";

/**
 * An operator asks the route tester which route and account would send a French mobile
 * number. The number is typed as people write it; the tester shows it in E.164.
 */
registry.category("web_tour.tours").add("sms_router_route_tester_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_route_tester_menu"),
        {
            content: "Type a number",
            trigger: ".modal .o_field_widget[name=number] input",
            // Tab leaves the field, as a person does: the tester reads the number then.
            run: "edit +33 6 12 34 56 78 && press Tab",
        },
        {
            content: "The number in E.164",
            trigger: ".modal .o_field_widget[name=e164]:contains('+33612345678')",
        },
        {
            content: "The matching route",
            trigger: ".modal .o_field_widget[name=route_id]:contains('Tour France')",
        },
        {
            content: "The account that would send it now (the primary one is down)",
            trigger: ".modal .o_field_widget[name=sender_name]:contains('Tour Backup')",
        },
        {
            content: "The chain: the primary account is skipped, the backup sends",
            trigger: ".modal div[name=line_ids] .o_data_row:eq(1) td[name=name]:contains('Tour Backup')",
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

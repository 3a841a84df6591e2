import { registry } from "@web/core/registry";
import { openRouterMenu } from "./sms_router_tour_utils";

/**
 * An operator opens the Overview and sees which account's breaker is open: its card has a
 * red breaker badge, the time of the next probe and the last failure.
 */
registry.category("web_tour.tours").add("sms_router_overview_breaker_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_overview_menu"),
        {
            content: "The healthy account's breaker is closed (green)",
            trigger: ".o_sms_router_overview .o_kanban_record:contains('Tour Healthy') div[name=breaker_state] .text-bg-success",
        },
        {
            content: "The broken account's breaker is open (red)",
            trigger: ".o_sms_router_overview .o_kanban_record:contains('Tour Down') div[name=breaker_state] .text-bg-danger",
        },
        {
            content: "Its card says when the next probe is",
            trigger: ".o_sms_router_overview .o_kanban_record:contains('Tour Down') div[name=breaker_next_probe_at]",
        },
        {
            content: "and what failed last",
            trigger: ".o_sms_router_overview .o_kanban_record:contains('Tour Down') div.text-danger:contains('HTTP 503')",
        },
        {
            content: "The healthy account's card has no next probe",
            trigger: ".o_sms_router_overview .o_kanban_record:contains('Tour Healthy'):not(:has(div[name=breaker_next_probe_at]))",
        },
    ],
});

import { registry } from "@web/core/registry";
import { openRouterMenu } from "./sms_router_tour_utils";

/**
 * An operator opens SMS Router > Alerts, opens the alert of a breaker that opened and
 * acknowledges it. The test checks who acknowledged it, server-side.
 */
registry.category("web_tour.tours").add("sms_router_alert_acknowledge_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_alert_menu"),
        {
            content: "Open the alert of the account whose breaker opened",
            trigger: ".o_list_view .o_data_row:contains('Tour Down') td[name=name]",
            run: "click",
        },
        {
            content: "Acknowledge it",
            trigger: ".o_form_view .o_form_statusbar button[name=action_acknowledge]",
            run: "click",
        },
        {
            content: "It is acknowledged: the button is gone, the status moved",
            trigger: ".o_form_view .o_form_statusbar:not(:has(button[name=action_acknowledge])) .o_arrow_button_current[data-value=acknowledged]",
        },
    ],
});

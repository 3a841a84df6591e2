import { registry } from "@web/core/registry";
import { openRouterMenu, saveForm } from "./sms_router_tour_utils";

/**
 * An administrator applies a dated send window preset to the company, then adapts the
 * send window it created: it is the company's own, editable rule.
 */
registry.category("web_tour.tours").add("sms_router_send_window_tour", {
    steps: () => [
        ...openRouterMenu(
            "sms_router.sms_router_send_window_preset_menu",
            "sms_router.sms_router_configuration_menu"
        ),
        {
            content: "Open the strict French preset",
            trigger: ".o_list_view .o_data_row td[name=name]:contains('FR - strict 8h-20h Mon-Sat')",
            run: "click",
        },
        {
            content: "No send window was made from it yet",
            trigger: ".o_form_view button[name=action_view_rules] .o_stat_value:contains('0')",
        },
        {
            content: "Apply it to the company",
            trigger: ".o_form_view .o_form_statusbar button[name=action_apply]",
            run: "click",
        },
        {
            content: "The company's send window, made from the preset",
            trigger: ".o_form_view .o_field_widget[name=preset_id] input:value('FR - strict 8h-20h Mon-Sat')",
        },
        {
            content: "Shorten its hours",
            trigger: ".o_form_view .o_field_widget[name=hours] input",
            run: "edit 09:00-19:00",
        },
        ...saveForm(),
    ],
});

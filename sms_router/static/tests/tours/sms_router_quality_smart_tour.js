import { registry } from "@web/core/registry";
import { openRouterMenu } from "./sms_router_tour_utils";
import { label } from "./sms_router_smart_tour_utils";

/**
 * An operator opens Delivery Quality: per account and destination country, the share of
 * reported SMS delivered and how many were reported; an account that does not deliver to a
 * country is marked ejected (skipped there for a cool-down), in red.
 */
registry.category("web_tour.tours").add("sms_router_quality_smart_tour", {
    steps: () => {
        const france = label("France", "France");
        const germany = label("Germany", "Allemagne");
        const ovhFrance = `.o_list_view .o_data_row:has(td[name=account_id]:contains('Tour OVH')):has(td[name=country_id]:contains("${france}"))`;
        const sweegoGermany = `.o_list_view .o_data_row:has(td[name=account_id]:contains('Tour Sweego')):has(td[name=country_id]:contains("${germany}"))`;
        return [
            ...openRouterMenu("sms_router.sms_router_quality_menu"),
            {
                content: "The list is titled Delivery Quality",
                trigger: `.o_control_panel .o_breadcrumb:contains("${label("Delivery Quality", "Qualité de livraison")}")`,
            },
            {
                content: "The column of the delivery rate",
                trigger: `.o_list_view thead th[data-name=delivery_rate]:contains("${label("Delivery Rate", "Taux de livraison")}")`,
            },
            {
                content: "OVH delivers 97 % of what it sends to France",
                trigger: `${ovhFrance} td[name=delivery_rate]:contains(/^\\s*97(.0+)?\\s*%\\s*$/)`,
            },
            {
                content: "over 200 reported SMS",
                trigger: `${ovhFrance} td[name=sample]:contains(/^\\s*200\\s*$/)`,
            },
            {
                content: "It is OK there",
                trigger: `${ovhFrance} td[name=state] .badge.text-bg-success:contains("${label("OK", "OK")}")`,
            },
            {
                content: "Sweego delivers 40 % to Germany",
                trigger: `${sweegoGermany} td[name=delivery_rate]:contains(/^\\s*40(.0+)?\\s*%\\s*$/)`,
            },
            {
                content: "so it is ejected there",
                trigger: `${sweegoGermany} td[name=state] .badge.text-bg-danger:contains("${label("Ejected", "Écarté")}")`,
            },
            {
                content: "its row is red",
                trigger: `${sweegoGermany}.text-danger`,
            },
            {
                content: "and says until when",
                trigger: `${sweegoGermany} td[name=ejected_until]:not(:empty)`,
            },
            {
                content: "The filter of the accounts not OK",
                trigger: ".o_control_panel .o_searchview_dropdown_toggler",
                run: "click",
            },
            {
                content: "Ejected or Probing",
                trigger: `.o_filter_menu .o_menu_item:contains("${label("Ejected or Probing", "Écartés ou en sonde")}")`,
                run: "click",
            },
            {
                content: "leaves Sweego in Germany only",
                trigger: `.o_list_view:not(:has(.o_data_row td[name=account_id]:contains('Tour OVH'))) ${sweegoGermany.replace(".o_list_view ", "")}`,
            },
        ];
    },
});

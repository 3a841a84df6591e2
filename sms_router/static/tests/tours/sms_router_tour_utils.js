import { stepUtils } from "@web_tour/tour_utils";

/**
 * Steps shared by the router's tours. Selectors use menu XML ids, field names and CSS
 * classes, never translated labels, so that each tour also runs in another language.
 */

/** Open SMS Router > <menu> from the apps menu, as an operator does. */
export function openRouterMenu(menuXmlid, parentXmlid = null) {
    const steps = [...stepUtils.goToAppSteps("sms_router.sms_router_menu_root", "Open SMS Router")];
    if (parentXmlid) {
        steps.push(
            {
                content: `Open the ${parentXmlid} menu`,
                trigger: `.o_main_navbar [data-menu-xmlid="${parentXmlid}"]`,
                run: "click",
            },
            {
                // The items of a menu section are a dropdown, rendered outside the navbar.
                content: `Open ${menuXmlid}`,
                trigger: `.o-dropdown--menu [data-menu-xmlid="${menuXmlid}"]`,
                run: "click",
            }
        );
    } else {
        steps.push({
            content: `Open ${menuXmlid}`,
            trigger: `.o_main_navbar [data-menu-xmlid="${menuXmlid}"]`,
            run: "click",
        });
    }
    return steps;
}

/** Type in a many2one input and pick the suggestion named ``name``. */
export function pickMany2one(inputSelector, name) {
    return [
        {
            content: `Type ${name}`,
            trigger: inputSelector,
            run: `edit ${name}`,
        },
        {
            content: `Pick ${name}`,
            trigger: `.o-autocomplete--dropdown-item .dropdown-item:contains("${name}")`,
            run: "click",
        },
    ];
}

export function saveForm() {
    return stepUtils.saveForm();
}

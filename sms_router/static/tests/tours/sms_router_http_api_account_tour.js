import { registry } from "@web/core/registry";
import { label } from "./sms_router_smart_tour_utils";
import { openRouterMenu, saveForm } from "./sms_router_tour_utils";

/**
 * An administrator creates an HTTP API account from the Plivo template: the template fills
 * the request, "About the Template" names the credentials Plivo gives, only the credentials
 * and the sender are typed. Once saved, the Delivery Report URL is shown. A configuration
 * broken by hand (an unknown placeholder in the URL) is refused on save with the placeholder
 * named, and discarded. Runs in English and in French (labels picked by the user's language).
 */

function expectValue(selector, expected) {
    return {
        content: `${selector} holds ${expected}`,
        trigger: selector,
        run() {
            const value = document.querySelector(selector).value;
            if (!value.includes(expected)) {
                throw new Error(`${selector} is "${value}", expected it to hold "${expected}"`);
            }
        },
    };
}

registry.category("web_tour.tours").add("sms_router_http_api_account_tour", {
    steps: () => [
        ...openRouterMenu("sms_router.sms_router_account_menu", "sms_router.sms_router_configuration_menu"),
        {
            content: "New account",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "edit Tour Plivo",
        },
        {
            content: "Choose the provider",
            trigger: ".o_form_view .o_field_widget[name=sms_provider] .o_select_menu_toggler",
            run: "click",
        },
        {
            content: "HTTP API",
            trigger: `.o_select_menu_item:contains('${label("HTTP API", "API HTTP")}')`,
            run: "click",
        },
        {
            content: "The HTTP API tab is there, in the reader's language",
            trigger: `.o_form_view .o_notebook a.nav-link[name=http_api]:contains('${label("HTTP API", "API HTTP")}')`,
            run: "click",
        },
        {
            content: "Its Template group",
            trigger: `.o_form_view .o_inner_group:contains('${label("Template", "Modèle")}') .o_field_widget[name=http_api_template]`,
        },
        {
            content: "Open the template list",
            trigger: ".o_form_view .o_field_widget[name=http_api_template] .o_select_menu_toggler",
            run: "click",
        },
        {
            content: "Plivo",
            trigger: ".o_select_menu_item:contains('Plivo')",
            run: "click",
        },
        expectValue(".o_form_view .o_field_widget[name=http_api_url] input", "{base_url}/v1/Account/{username}/Message/"),
        expectValue(".o_form_view .o_field_widget[name=http_api_base_url] input", "https://api.plivo.com"),
        {
            content: "The JSON body is the template's",
            trigger: ".o_form_view .o_field_widget[name=http_api_body]:contains('{number_digits}'):contains('{callback_url}')",
        },
        {
            content: "Basic authentication, with the credentials as placeholders",
            trigger: ".o_form_view .o_field_widget[name=http_api_auth_username] input",
            run() {
                const user = document.querySelector(".o_form_view .o_field_widget[name=http_api_auth_username] input").value;
                const password = document.querySelector(".o_form_view .o_field_widget[name=http_api_auth_password] input").value;
                if (user !== "{username}" || password !== "{api_key}") {
                    throw new Error(`basic authentication is "${user}" / "${password}"`);
                }
            },
        },
        {
            content: "About the Template names Plivo's credentials",
            trigger: `.o_form_view .o_field_widget[name=http_api_template_info]:contains('${label("Credentials: ", "Identifiants : ")}'):contains('${label("Username: Auth ID", "Nom d'utilisateur : Auth ID")}')`,
        },
        {
            trigger: `.o_form_view .o_field_widget[name=http_api_template_info]:contains("${label("API Key: Auth Token", "Clé d'API : Jeton d'authentification")}")`,
        },
        {
            content: "and the template's note and the sender requirement, in the reader's language",
            trigger: `.o_form_view .o_field_widget[name=http_api_template_info]:contains('${label("Sender: a Plivo number", "Expéditeur : un numéro Plivo")}'):contains("${label("This provider needs a Sender ID.", "Ce fournisseur exige un ID d'expéditeur.")}")`,
        },
        {
            content: "No Apply Template button before the account is saved (choosing the template applied it)",
            trigger: ".o_form_view:not(:has(button[name=action_http_api_apply_template]))",
        },
        {
            content: "The sender",
            trigger: ".o_form_view .o_field_widget[name=sender_id] input",
            run: "edit +14155550100",
        },
        {
            content: "The Provider tab",
            trigger: `.o_form_view .o_notebook a.nav-link[name=provider]:contains('${label("Provider", "Fournisseur")}')`,
            run: "click",
        },
        {
            content: "Its Credentials group",
            trigger: `.o_form_view .o_inner_group:contains('${label("Credentials", "Identifiants")}') .o_field_widget[name=http_api_username] input`,
            run: "edit MATOURAUTHID0000000",
        },
        {
            content: "The Auth Token, as a password",
            trigger: ".o_form_view .o_field_widget[name=http_api_key] input[type=password]",
            run: "edit tour-plivo-auth-token",
        },
        {
            content: "Before saving, the form says the URLs come once saved",
            trigger: ".o_form_view .o_field_widget[name=webhook_help]:contains('{callback_url}')",
        },
        ...saveForm(),
        {
            content: "Once saved, the Delivery Report URL is shown under Webhooks",
            trigger: `.o_form_view .o_inner_group:contains('${label("Webhooks", "Webhooks")}') .o_field_widget[name=delivery_report_url]:contains('/sms_router/http_api/report/')`,
        },
        {
            content: "The HTTP API tab again",
            trigger: ".o_form_view .o_notebook a.nav-link[name=http_api]",
            run: "click",
        },
        {
            content: "Apply Template is offered on a saved account",
            trigger: `.o_form_view button[name=action_http_api_apply_template]:contains('${label("Apply Template", "Appliquer le modèle")}')`,
        },
        {
            content: "Break the URL with a placeholder the router does not know",
            trigger: ".o_form_view .o_field_widget[name=http_api_url] input",
            run: "edit {base_url}/v1/Account/{foo}/Message/",
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Saving is refused, the error names the unknown placeholder",
            trigger: `.modal .o_error_dialog:contains('${label("cannot work as configured", "ne peut pas fonctionner ainsi configuré")}'):contains('{foo}'):contains('${label("unknown placeholder", "variable inconnue")}')`,
        },
        {
            content: "Close the error",
            trigger: ".modal .o_error_dialog .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Discard the change",
            trigger: ".o_form_view .o_form_button_cancel",
            run: "click",
        },
        expectValue(".o_form_view .o_field_widget[name=http_api_url] input", "{base_url}/v1/Account/{username}/Message/"),
        {
            content: "The form is clean again: nothing left to save",
            trigger: ".o_form_view .o_field_widget[name=http_api_url] input",
            run() {
                const buttons = document.querySelector(".o_form_view .o_form_status_indicator_buttons");
                if (!buttons.classList.contains("invisible")) {
                    throw new Error("the discarded form still offers to save");
                }
            },
        },
    ],
});

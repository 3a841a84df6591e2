-- deactivate the provider accounts: routes of a neutralized database have no account left
-- to send with, and the SMS end in error with their reason instead of reaching a provider
UPDATE sms_router_account
   SET active = false;

-- no Odoo IAP after the chain either
UPDATE res_company
   SET sms_router_iap_last_resort = false;

-- deactivate the provider accounts: routes of a neutralized database have no account left
-- to send with, and the SMS end in error with their reason instead of reaching a provider
UPDATE sms_router_account
   SET active = false;

-- no Odoo IAP after the chain either
UPDATE res_company
   SET sms_router_iap_last_resort = false;

-- remove the HTTP API credentials and callback tokens: NULL, so that a reactivated account
-- is misconfigured (no request) and delivery reports are refused until a new token
UPDATE sms_router_account
   SET http_api_username = NULL,
       http_api_key = NULL,
       http_api_secret = NULL,
       http_api_callback_token = NULL
 WHERE http_api_username IS NOT NULL
    OR http_api_key IS NOT NULL
    OR http_api_secret IS NOT NULL
    OR http_api_callback_token IS NOT NULL;

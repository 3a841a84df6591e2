-- remove the Sweego credentials. NULL rather than a dummy value: an account reactivated on
-- this database is then reported as misconfigured and skipped without any request, where a
-- dummy key would still reach Sweego. Without the webhook secret, events are refused.
UPDATE sms_router_account
   SET sweego_api_key = NULL,
       sweego_webhook_secret = NULL;

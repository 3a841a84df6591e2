-- remove the OVH secrets (the application key is an identifier, kept). NULL rather than a
-- dummy value: the client then refuses to sign, so neither sending nor the scheduled
-- delivery pull (which also asks about SMS of inactive accounts) reaches OVH. Without the
-- callback token, delivery reports are refused until a new token is generated.
UPDATE sms_router_account
   SET ovh_application_secret = NULL,
       ovh_consumer_key = NULL,
       ovh_callback_token = NULL;

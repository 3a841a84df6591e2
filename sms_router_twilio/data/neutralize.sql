-- remove the Twilio secrets (the SIDs are identifiers, kept). NULL rather than a dummy
-- value: an account reactivated on this database is then reported as misconfigured and
-- skipped without any request, where a dummy token would still reach Twilio. Without the
-- auth token, status callbacks and inbound SMS are refused.
UPDATE sms_router_account
   SET twilio_auth_token = NULL,
       twilio_api_key_secret = NULL;

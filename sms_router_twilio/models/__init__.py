from . import sms_router_account
from . import sms_router_attempt
from . import sms_router_twilio_number

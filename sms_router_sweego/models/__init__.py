from . import sms_router_account
from . import sms_router_parked_report
from . import sms_router_sweego_event

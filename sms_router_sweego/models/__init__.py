from . import res_config_settings
from . import sms_router_account
from . import sms_router_attempt
from . import sms_router_sweego_event
from . import sms_router_parked_report

from . import res_company
from . import res_config_settings
from . import sms_composer
from . import sms_router_account
from . import sms_router_attempt
from . import sms_router_breaker
from . import sms_router_route
from . import sms_sms

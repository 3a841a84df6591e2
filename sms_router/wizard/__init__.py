from . import sms_composer
from . import sms_router_test_sms
from . import sms_router_breaker_force_open
from . import sms_router_route_tester
from . import sms_router_route_tester_strategy
from . import sms_router_send_preview

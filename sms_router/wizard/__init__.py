from . import sms_router_test_sms

from . import test_router_sending

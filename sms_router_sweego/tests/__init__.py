from . import test_sweego_account
from . import test_sweego_sending
from . import test_sweego_webhook
from . import test_sweego_neutralize
from . import test_sweego_french
from . import test_sweego_segments
from . import test_sweego_prices

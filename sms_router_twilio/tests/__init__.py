from . import test_twilio_account
from . import test_twilio_sending
from . import test_twilio_webhooks
from . import test_twilio_coexistence
from . import test_twilio_neutralize
from . import test_twilio_french
from . import test_twilio_prices

from . import test_ovh_account
from . import test_ovh_delivery
from . import test_ovh_sending
from . import test_ovh_neutralize
from . import test_ovh_migration
from . import test_ovh_french

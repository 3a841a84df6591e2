"""The emulated providers, one module each; this list is the only place that names them all.

Sweego, Twilio and OVH have their own addon and stand-in (``sweego.py``, ``twilio.py``,
``ovh.py``). The stand-ins of the providers reached through the router's generic *HTTP API*
provider type live in the ``http_api`` subpackage, one module per template key; they join
after the first three, found by that package (adding one needs no change here).
"""
from .base import Provider
from .http_api import HTTP_API_CLASSES
from .ovh import Ovh
from .sweego import Sweego
from .twilio import Twilio

# The providers with their own addon: what the drills and the cost reconciliation set up.
BUILTIN_CLASSES = (Sweego, Twilio, Ovh)
# Every provider served, in this order: the listings, and --port-per-provider's ports
# (PORT+1 sweego, PORT+2 twilio, PORT+3 ovh, then the HTTP API stand-ins by key).
PROVIDER_CLASSES = BUILTIN_CLASSES + HTTP_API_CLASSES
ALL_PROVIDERS = tuple(cls.name for cls in PROVIDER_CLASSES)
# Kept to its historical meaning (drills, benchmarks and tests iterate it): the built-in three.
PROVIDERS = tuple(cls.name for cls in BUILTIN_CLASSES)
HTTP_API_PROVIDERS = tuple(cls.name for cls in HTTP_API_CLASSES)

__all__ = ['ALL_PROVIDERS', 'BUILTIN_CLASSES', 'HTTP_API_CLASSES', 'HTTP_API_PROVIDERS',
           'PROVIDERS', 'PROVIDER_CLASSES', 'Provider']

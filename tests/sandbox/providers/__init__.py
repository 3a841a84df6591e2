"""The emulated providers, one module each; this list is the only place that names them all."""
from .base import Provider
from .ovh import Ovh
from .sweego import Sweego
from .twilio import Twilio

# In this order: the listings, and --port-per-provider's ports (PORT+1, PORT+2, PORT+3).
PROVIDER_CLASSES = (Sweego, Twilio, Ovh)
PROVIDERS = tuple(cls.name for cls in PROVIDER_CLASSES)

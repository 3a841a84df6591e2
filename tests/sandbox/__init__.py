"""Local provider sandbox (Sweego, Twilio, OVH and the HTTP API stand-ins) with failure injection;
see README.md."""
from .common import normalize_number, sms_parts  # noqa: F401
from .core import Sandbox  # noqa: F401
from .faults import MODES  # noqa: F401
from .providers import PROVIDERS  # noqa: F401
from .providers.ovh import ovh_signature  # noqa: F401
from .providers.sweego import sweego_signature  # noqa: F401
from .providers.twilio import twilio_signature  # noqa: F401

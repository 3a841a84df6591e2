"""Local provider sandbox (Sweego, Twilio, OVH) with failure injection; see README.md."""
from .server import (  # noqa: F401
    MODES,
    PROVIDERS,
    Sandbox,
    normalize_number,
    ovh_signature,
    sms_parts,
    sweego_signature,
    twilio_signature,
)

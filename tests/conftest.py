"""Make the addons' framework-free packages importable without Odoo.

The addons' own ``__init__`` files import Odoo models, so each addon is mounted here as a
bare package under the name ``addons``: ``addons.sms_router.engine.routing`` loads only the
engine, and provider clients reach the core engine with the same relative imports
(``...sms_router.engine``) that work under ``odoo.addons`` in a server.
"""
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ('sms_router', 'sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')


def _mount(name, path):
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    sys.modules[name] = module
    return module


if 'addons' not in sys.modules:
    _mount('addons', ROOT)
    for addon in ADDONS:
        _mount(f'addons.{addon}', ROOT / addon)

#!/usr/bin/env python3
"""Local stand-in for the Sweego, Twilio and OVH send APIs, and for the providers of the HTTP
API templates (providers/http_api/), with failure injection.

Standard library only. One threaded HTTP server hosts the three providers under path
prefixes, so an account's endpoint field points at, for example::

    http://127.0.0.1:8071/sweego             (Sweego: POST /send, ...)
    http://127.0.0.1:8071/twilio/2010-04-01  (Twilio: POST /Accounts/{sid}/Messages.json, ...)
    http://127.0.0.1:8071/ovh/1.0            (OVH: POST /sms/{service}/jobs, ...)

Faults are switched per provider while the server runs, through ``POST /_control/{provider}``
or the :class:`Sandbox` Python API, and every provider keeps request counters that drills
read back (``GET /_control``). See README.md beside this file for the whole contract and for
which module of this package holds what.

This module is the command line and the names other code imports:

Run: ``python3 tests/sandbox/server.py --host 127.0.0.1 --port 8071``.
Import: ``from sandbox.server import Sandbox`` with ``tests/`` on ``sys.path``.
"""
import argparse
import json
import sys
from pathlib import Path

if __name__ == '__main__' and not __package__:
    # Started by its path: make this directory the package ``sandbox`` (PEP 366) for the
    # relative imports below, with tests/ on sys.path instead of this directory (whose
    # modules, settings.py, core.py..., must not be importable as top-level ones).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    __package__ = 'sandbox'

from .callbacks import CallbackDispatcher  # noqa: E402
from .common import CALLING_CODES, normalize_number, sms_parts  # noqa: E402
from .core import Sandbox  # noqa: E402
from .faults import MODES, TRANSPORT_MODES  # noqa: E402
from .foreground import serve_until_signalled  # noqa: E402
from .providers import ALL_PROVIDERS, HTTP_API_PROVIDERS, PROVIDERS  # noqa: E402
from .providers.ovh import (  # noqa: E402
    OVH_APP_KEY,
    OVH_APP_SECRET,
    OVH_CONSUMER_KEY,
    OVH_SERVICE,
    ovh_signature,
)
from .providers.sweego import SWEEGO_API_KEY, SWEEGO_WEBHOOK_SECRET, sweego_signature  # noqa: E402
from .providers.twilio import (  # noqa: E402
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_PHONE_NUMBER,
    twilio_signature,
)

# What other code imports from here (tests, drills, benchmarks); kept stable across moves.
__all__ = [
    'ALL_PROVIDERS', 'CALLING_CODES', 'HTTP_API_PROVIDERS', 'MODES', 'OVH_APP_KEY',
    'OVH_APP_SECRET', 'OVH_CONSUMER_KEY', 'OVH_SERVICE', 'PROVIDERS', 'SWEEGO_API_KEY',
    'SWEEGO_WEBHOOK_SECRET', 'TRANSPORT_MODES',
    'TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_API_KEY_SID', 'TWILIO_AUTH_TOKEN',
    'TWILIO_PHONE_NUMBER', 'CallbackDispatcher', 'Sandbox', 'main', 'normalize_number',
    'ovh_signature', 'sms_parts', 'sweego_signature', 'twilio_signature',
]


def _parse_pairs(values, what):
    result = {}
    for value in values or ():
        name, sep, rest = value.partition('=')
        if not sep or name not in ALL_PROVIDERS:
            raise SystemExit(f'--{what} expects PROVIDER=VALUE with PROVIDER in '
                             f'{", ".join(ALL_PROVIDERS)}')
        result[name] = rest
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Local Sweego/Twilio/OVH sandbox with failure injection.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8071, help='shared port (0: any free port)')
    parser.add_argument('--latency-ms', type=float, default=0,
                        help='initial latency of every provider')
    parser.add_argument('--port-per-provider', action='store_true',
                        help='also listen on PORT+1 (sweego), PORT+2 (twilio), PORT+3 (ovh), '
                             'then PORT+4... for the HTTP API stand-ins in the order of '
                             "GET /_control; 'refuse' then closes that port (true ECONNREFUSED)")
    parser.add_argument('--provider-port', action='append', metavar='PROVIDER=PORT',
                        help='dedicated port for one provider (repeatable)')
    parser.add_argument('--fault', action='append', metavar='PROVIDER=MODE',
                        help='start with a fault mode (repeatable)')
    parser.add_argument('--config',
                        help='JSON file {provider: {setting: value}} applied at start and reset')
    parser.add_argument('--state-file',
                        help='keep this JSON file updated with settings and counters')
    parser.add_argument('--callback-host', action='append', default=[],
                        help='extra host allowed to receive callbacks (loopback is always allowed)')
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)

    config = {}
    if args.config:
        with open(args.config, encoding='utf-8') as handle:
            config = json.load(handle)
        unknown = set(config) - set(ALL_PROVIDERS)
        if unknown:
            raise SystemExit(f'--config: unknown provider(s) {", ".join(sorted(unknown))}')
    for name, mode in _parse_pairs(args.fault, 'fault').items():
        config.setdefault(name, {})['mode'] = mode
    dedicated = {}
    if args.port_per_provider:
        if not args.port:
            dedicated = {name: 0 for name in ALL_PROVIDERS}
        else:
            dedicated = {name: args.port + index + 1 for index, name in enumerate(ALL_PROVIDERS)}
    for name, port in _parse_pairs(args.provider_port, 'provider-port').items():
        dedicated[name] = int(port)

    try:
        sandbox = Sandbox(args.host, args.port, latency_ms=args.latency_ms,
                          dedicated_ports=dedicated, callback_hosts=args.callback_host,
                          state_file=args.state_file, config=config, verbose=args.verbose)
    except ValueError as error:
        raise SystemExit(f'sandbox: {error}') from None
    try:
        sandbox.start()
    except OSError as error:
        raise SystemExit(f'sandbox: cannot listen on {args.host}:{args.port}: {error}') from None
    print(f'SMS sandbox listening on {sandbox.url}', flush=True)
    for name in ALL_PROVIDERS:
        print(f'  {name:<14} {sandbox.endpoint(name)}', flush=True)
    print(f'  control {sandbox.url}/_control', flush=True)

    serve_until_signalled(sandbox.stop)
    return 0


if __name__ == '__main__':
    sys.exit(main())

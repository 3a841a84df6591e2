"""Templates of the HTTP API provider: one JSON file per provider in http_templates/.

A template is a ready spec (engine/http_api_spec.py) and what an administrator needs
around it::

    {"key": "africastalking", "name": "Africa's Talking",
     "documentation": ["https://..."],          # the pages the spec was written from
     "endpoints": {"live": "https://...", "sandbox": "https://..."},
     "credentials": {"username": "Username", "api_key": "API Key"},   # what each one means
     "sender_required": false, "notes": "...", "unverified": ["..."],
     "spec": {...}}

An account is made from a template: its spec and live endpoint are copied onto the account,
then only the credentials and the sender are filled in. The files ship with the addon (the
wheel packages every file of the addon that git tracks).
"""
import json
import re
from pathlib import Path

from .http_api_spec import CREDENTIALS, SpecError, load_spec

TEMPLATES_DIR = Path(__file__).resolve().parent / 'http_templates'
KEY_PATTERN = re.compile(r'^[a-z0-9_]+$')
REQUIRED_KEYS = ('key', 'name', 'documentation', 'endpoints', 'credentials', 'spec')
OPTIONAL_KEYS = ('sender_required', 'notes', 'unverified')


def template_keys():
    """The keys of the templates, sorted."""
    if not TEMPLATES_DIR.is_dir():
        return []
    return sorted(path.stem for path in TEMPLATES_DIR.glob('*.json') if KEY_PATTERN.match(path.stem))


def template_path(key):
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise KeyError(key)
    return TEMPLATES_DIR / f'{key}.json'


def load_template(key):
    """The template ``key`` as a dict (a fresh copy each time); KeyError when there is none,
    ValueError when its file is not JSON."""
    path = template_path(key)
    if not path.is_file():
        raise KeyError(key)
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except ValueError as error:
        raise ValueError(f'{path.name}: invalid JSON: {error}') from None


def template_problems(template, key=None):
    """What is wrong with a template (a list of English sentences, empty when it is fine):
    the metadata an administrator relies on, and its spec through load_spec."""
    problems = []
    if not isinstance(template, dict):
        return ['the template is not a JSON object']
    for name in REQUIRED_KEYS:
        if not template.get(name):
            problems.append(f'missing {name}')
    for name in template:
        if name not in REQUIRED_KEYS + OPTIONAL_KEYS and not name.startswith('_'):
            problems.append(f'unknown key {name}')
    if key is not None and template.get('key') != key:
        problems.append(f'key {template.get("key")!r} differs from the file name {key!r}')
    if template.get('key') and not KEY_PATTERN.match(str(template['key'])):
        problems.append('key: lowercase ascii letters, digits and _ only')
    documentation = template.get('documentation')
    if documentation and (not isinstance(documentation, list) or not all(
            isinstance(url, str) and url.startswith(('https://', 'http://')) for url in documentation)):
        problems.append('documentation: a list of URLs (https://...)')
    endpoints = template.get('endpoints')
    if endpoints and (not isinstance(endpoints, dict) or not str(endpoints.get('live') or '').startswith(
            ('https://', 'http://'))):
        problems.append('endpoints: needs a live URL (https://...)')
    credentials = template.get('credentials')
    if credentials and (not isinstance(credentials, dict) or set(credentials) - set(CREDENTIALS)):
        problems.append(f'credentials: labels of {", ".join(CREDENTIALS)} only')
    if 'sender_required' in template and not isinstance(template['sender_required'], bool):
        problems.append('sender_required: true or false')
    if 'unverified' in template and not isinstance(template['unverified'], list):
        problems.append('unverified: a list of sentences')
    if template.get('spec'):
        try:
            spec = load_spec(template['spec'])
        except SpecError as error:
            problems.append(f'spec: {error}')
        else:
            used = {name for name in CREDENTIALS if name in spec.uses | spec.balance_uses}
            if isinstance(credentials, dict) and used - set(credentials):
                problems.append(f'credentials: no label for {", ".join(sorted(used - set(credentials)))}, '
                                f'which the spec uses')
    return problems

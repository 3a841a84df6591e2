"""Configurations of the HTTP API provider (engine/http_api.py): reading and checking them.

:func:`load_spec` reads a spec (a dict, or its JSON text) once, when it is saved or a client
is made, and refuses anything that cannot work with a :class:`SpecError` whose message says
where and what to fix: ``url: unknown placeholder {foo}``, ``answer.id_path: JSON path does
not parse: ...``, ``body: invalid JSON: ...``. What it accepts renders and reads without
surprises (engine/http_api_render.py, engine/http_api_answer.py). Keys starting with ``_``
are comments, ignored; any other unknown key is refused (a typo would otherwise be silently
ignored).
"""
import dataclasses
import json
import re

from .http_api_answer import RULE_OUTCOMES, Condition, Rule, Selector, as_text, compile_path
from .http_api_render import (
    EACH,
    NUMBER_PLACEHOLDERS,
    RECIPIENT_PLACEHOLDERS,
    TemplateError,
    bare_placeholder,
    is_each,
    placeholders,
)
from .reasons import _lt

PLACEHOLDERS = {
    'number': _lt('the recipient number in E.164 form, with its + (+33612345678)'),
    'number_digits': _lt('the recipient number in E.164 form without the + (33612345678)'),
    'number_national': _lt('the recipient number as dialled in its country (0612345678)'),
    'body': _lt('the text of the SMS'),
    'sender': _lt("the account's sender ID"),
    'uuid': _lt("the SMS's unique id in Odoo"),
    'callback_url': _lt("this account's delivery report URL"),
    'username': _lt("the account's username"),
    'api_key': _lt("the account's API key"),
    'api_secret': _lt("the account's API secret"),
    'base_url': _lt("the account's endpoint URL, else the template's live endpoint"),
    'marketing': _lt('true for marketing SMS, false for transactional ones'),
    'sms_type': _lt('the value of type_values for the kind of SMS (transactional or marketing)'),
    'unicode': _lt('true when the text needs Unicode (UCS-2), false when it fits the GSM alphabet'),
    'sms_encoding': _lt('the value of encoding_values for the encoding of the text (gsm or unicode)'),
}
CREDENTIALS = ('username', 'api_key', 'api_secret')
# Placeholders that have a value only when an SMS is sent (not in a balance request).
SEND_ONLY = RECIPIENT_PLACEHOLDERS + ('body', 'marketing', 'sms_type', 'unicode', 'sms_encoding')

METHODS = ('GET', 'POST')
BODY_TYPES = ('json', 'form', 'query')
AUTH_TYPES = ('none', 'header', 'bearer', 'basic', 'param')
JOINS = ('list', 'separator')
MATCHES = ('number', 'order')
MAX_RECIPIENTS = 10000
DEFAULT_ACCEPTED_STATUS = (200, 201, 202)


TOP_KEYS = ('method', 'url', 'body_type', 'headers', 'params', 'body', 'auth', 'recipients',
            'type_values', 'encoding_values', 'omit_empty', 'answer', 'report', 'balance')
AUTH_KEYS = ('type', 'name', 'value', 'username', 'password', 'in')
RECIPIENTS_KEYS = ('max', 'join', 'separator')
ANSWER_KEYS = ('accepted_status', 'accepted', 'results', 'match', 'number_path', 'id_path',
               'batch_id_path', 'status_path', 'ok_values', 'price_path', 'price_regex',
               'price_currency', 'price_currency_path', 'rules')
RULE_KEYS = ('status', 'path', 'values', 'regex', 'outcome', 'reason')
REPORT_KEYS = ('items', 'id', 'status', 'number', 'error', 'delivered', 'failed', 'answer')
BALANCE_KEYS = ('method', 'url', 'params', 'path', 'regex')

class SpecError(ValueError):
    """A spec that cannot work; the message (a translatable Reason) says where and what to fix."""

    def __init__(self, message, where=''):
        super().__init__(message)
        self.message = message
        self.where = where


def _fail(where, problem):
    raise SpecError(_lt('%(where)s: %(problem)s', where=where, problem=problem), where)


@dataclasses.dataclass
class AnswerSpec:
    accepted_status: frozenset
    accepted: Condition = None
    results: Selector = None
    match: str = 'order'
    number: Selector = None
    id: Selector = None
    batch_id: Selector = None
    status: Selector = None
    ok_values: frozenset = None
    price: Selector = None
    price_regex: re.Pattern = None
    price_currency: str = ''
    price_currency_path: Selector = None
    rules: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ReportSpec:
    id: Selector
    status: Selector
    delivered: frozenset
    failed: frozenset
    items: Selector = None
    number: Selector = None
    error: Selector = None
    answer: str = ''


@dataclasses.dataclass
class BalanceSpec:
    url: str
    method: str = 'GET'
    params: list = dataclasses.field(default_factory=list)
    path: Selector = None
    regex: re.Pattern = None


@dataclasses.dataclass
class HttpApiSpec:
    """A validated spec (see :func:`load_spec`); ``source`` is the dict it was read from,
    with its body as JSON (not text)."""

    source: dict
    method: str
    url: str
    body_type: str
    headers: dict
    params: list                    # (name, template) pairs
    body: object                    # JSON template (object or array), or None
    auth: dict
    max_recipients: int
    join: str
    separator: str
    type_values: dict
    answer: AnswerSpec
    encoding_values: dict = dataclasses.field(default_factory=dict)
    # Body members (at any depth) and parameters left out when they render empty.
    omit_empty: frozenset = frozenset()
    report: ReportSpec = None
    balance: BalanceSpec = None
    uses: frozenset = frozenset()           # placeholders of the send request
    balance_uses: frozenset = frozenset()   # placeholders of the balance request


# ---------------------------------------------------------------------- loading


def load_spec(data):
    """Validate a spec (a dict, or its JSON text) and return an :class:`HttpApiSpec`.

    Raise :class:`SpecError` on the first problem, saying where it is and what to fix."""
    if isinstance(data, (str, bytes)):
        data = _json_text('spec', data)
    if not isinstance(data, dict):
        _fail('spec', _lt('expected a JSON object'))
    source = dict(data)
    _known_keys('spec', data, TOP_KEYS)

    method = _choice('method', data.get('method', 'POST'), METHODS, upper=True)
    body_type = _choice('body_type', data.get('body_type', 'json' if method == 'POST' else 'query'), BODY_TYPES)
    if method == 'GET' and body_type != 'query':
        _fail('body_type', _lt('a GET request has no body: use query'))
    url = _text('url', data.get('url'), required=True)
    if not url.startswith(('{base_url}', 'http://', 'https://')):
        _fail('url', _lt('must start with {base_url}, https:// or http://'))
    headers = _string_map('headers', data.get('headers'))
    params = list(_string_map('params', data.get('params')).items())

    body = data.get('body')
    if isinstance(body, (str, bytes)):
        body = _json_text('body', body) if body.strip() else None
    if body is not None:
        if body_type != 'json':
            _fail('body', _lt('only with body_type json (use params for form and query parameters)'))
        if not isinstance(body, (dict, list)):
            _fail('body', _lt('expected a JSON object or array'))
        source['body'] = body
    elif body_type == 'json':
        _fail('body', _lt('missing: a request with body_type json needs a JSON body'))

    recipients = _mapping('recipients', data.get('recipients'), RECIPIENTS_KEYS)
    max_recipients = recipients.get('max', 1)
    if isinstance(max_recipients, bool) or not isinstance(max_recipients, int) or \
            not 1 <= max_recipients <= MAX_RECIPIENTS:
        _fail('recipients.max', _lt('expected a whole number from 1 to %(maximum)s', maximum=MAX_RECIPIENTS))
    join = _choice('recipients.join', recipients.get('join', 'list'), JOINS)
    separator = recipients.get('separator', '')
    if join == 'separator' and (not isinstance(separator, str) or not separator):
        _fail('recipients.separator', _lt('missing: the text between two numbers, e.g. ","'))

    type_values = data.get('type_values')
    if type_values is not None:
        type_values = _mapping('type_values', type_values, ('transactional', 'marketing'))
        for kind in ('transactional', 'marketing'):
            _text(f'type_values.{kind}', type_values.get(kind), required=True)
    encoding_values = data.get('encoding_values')
    if encoding_values is not None:
        encoding_values = _mapping('encoding_values', encoding_values, ('gsm', 'unicode'))
        for kind in ('gsm', 'unicode'):
            _text(f'encoding_values.{kind}', encoding_values.get(kind), required=True)
    omit_empty = data.get('omit_empty') or []
    if not isinstance(omit_empty, list) or not all(isinstance(name, str) and name for name in omit_empty):
        _fail('omit_empty', _lt('expected a list of body member or parameter names, e.g. ["from"]'))

    auth = _auth(data.get('auth'), body_type, body)
    spec = HttpApiSpec(
        source=source, method=method, url=url, body_type=body_type, headers=headers, params=params,
        body=body, auth=auth, max_recipients=max_recipients, join=join, separator=separator,
        type_values=type_values or {}, encoding_values=encoding_values or {}, omit_empty=frozenset(omit_empty),
        answer=_answer(data.get('answer')),
        report=_report(data.get('report')), balance=_balance(data.get('balance')),
    )
    spec.uses = frozenset(_scan_send(spec))
    if spec.balance:
        spec.balance_uses = frozenset(_scan_balance(spec))
    return spec


def _json_text(where, text):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    try:
        return json.loads(text)
    except ValueError as error:
        _fail(where, _lt('invalid JSON: %(error)s', error=str(error)))


def _known_keys(where, data, known):
    for key in data:
        if not isinstance(key, str) or (key not in known and not key.startswith('_')):
            _fail(f'{where}.{key}' if where != 'spec' else str(key),
                  _lt('unknown key (expected one of: %(keys)s)', keys=', '.join(known)))


def _mapping(where, value, known):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(where, _lt('expected a JSON object'))
    _known_keys(where, value, known)
    return value


def _choice(where, value, choices, upper=False):
    if isinstance(value, str):
        value = value.strip().upper() if upper else value.strip().lower()
    if value not in choices:
        _fail(where, _lt('expected one of: %(choices)s', choices=', '.join(choices)))
    return value


def _text(where, value, required=False):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            _fail(where, _lt('missing'))
        return ''
    if not isinstance(value, str):
        _fail(where, _lt('expected a text'))
    return value.strip()


def _string_map(where, value):
    """A JSON object of name -> text (numbers and booleans written as JSON writes them)."""
    if value is None:
        return {}
    if isinstance(value, str) and value.strip():
        value = _json_text(where, value)
    if not value:
        return {}
    if not isinstance(value, dict):
        _fail(where, _lt('expected a JSON object of names and values'))
    out = {}
    for name, item in value.items():
        if not isinstance(item, (str, int, float, bool)):
            _fail(f'{where}.{name}', _lt('expected a text, a number or true/false'))
        out[name] = item if isinstance(item, str) else as_text(item)
    return out


def _auth(value, body_type, body):
    auth = _mapping('auth', value, AUTH_KEYS)
    kind = _choice('auth.type', auth.get('type', 'none'), AUTH_TYPES)
    out = {'type': kind}
    if kind in ('header', 'param'):
        out['name'] = _text('auth.name', auth.get('name'), required=True)
        out['value'] = _text('auth.value', auth.get('value'), required=True)
    elif kind == 'bearer':
        out['value'] = _text('auth.value', auth.get('value')) or '{api_key}'
    elif kind == 'basic':
        out['username'] = _text('auth.username', auth.get('username')) or '{username}'
        out['password'] = _text('auth.password', auth.get('password')) or '{api_key}'
    if kind == 'param':
        default = 'query' if body_type == 'query' else 'body'
        out['in'] = _choice('auth.in', auth.get('in', default), ('query', 'body'))
        if out['in'] == 'body' and body_type == 'json' and not isinstance(body, dict):
            _fail('auth.in', _lt('a JSON array body has no top level for the key: use "in": "query"'))
    return out


def _selector(where, value, key_names=False):
    """A JSON path (text), ``{"regex": ...}``, or with ``key_names`` a plain parameter name."""
    if isinstance(value, dict):
        _known_keys(where, value, ('regex',))
        return Selector(regex=_regex(f'{where}.regex', value.get('regex')))
    text = _text(where, value, required=True)
    if key_names and not text.startswith('$'):
        return Selector(key=text)
    try:
        compile_path(text)
    except ValueError as error:
        _fail(where, _lt('JSON path does not parse: %(error)s', error=str(error)))
    return Selector(path=text)


def _regex(where, value):
    text = value if isinstance(value, str) else None
    if not text:
        _fail(where, _lt('missing: a regular expression'))
    try:
        return re.compile(text)
    except re.error as error:
        _fail(where, _lt('invalid regular expression: %(error)s', error=str(error)))


def _values(where, value, required=True):
    if value is None and not required:
        return None
    if isinstance(value, (str, int, float, bool)):
        value = [value]
    if not isinstance(value, list) or (required and not value) or \
            not all(isinstance(item, (str, int, float, bool)) for item in value):
        _fail(where, _lt('expected a list of values, e.g. ["OK", "0"]'))
    return frozenset(as_text(item) for item in value)


def _statuses(where, value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599 for item in value):
        _fail(where, _lt('expected a list of HTTP statuses, e.g. [200, 201]'))
    return frozenset(value)


def _condition(where, value, allow_status=False):
    keys = ('path', 'values', 'regex') + (('status',) if allow_status else ())
    condition = Condition()
    if 'status' in value and allow_status:
        condition.statuses = _statuses(f'{where}.status', value['status'])
    if value.get('path') is not None:
        condition.selector = _selector(f'{where}.path', value['path'])
        condition.values = _values(f'{where}.values', value.get('values'), required=False)
    elif value.get('values') is not None:
        _fail(f'{where}.values', _lt('values need a path'))
    if value.get('regex') is not None:
        condition.regex = _regex(f'{where}.regex', value['regex'])
    if condition.statuses is None and condition.selector is None and condition.regex is None:
        _fail(where, _lt('expected at least one of: %(keys)s', keys=', '.join(keys)))
    return condition


def _answer(value):
    if value is None:
        _fail('answer', _lt('missing: say what an accepted answer looks like (accepted, results or id_path)'))
    answer = _mapping('answer', value, ANSWER_KEYS)
    spec = AnswerSpec(accepted_status=_statuses('answer.accepted_status',
                                                answer.get('accepted_status', list(DEFAULT_ACCEPTED_STATUS))))
    if answer.get('accepted') is not None:
        accepted = _mapping('answer.accepted', answer['accepted'], ('path', 'values', 'regex'))
        spec.accepted = _condition('answer.accepted', accepted)
    if answer.get('results') is not None:
        results = _text('answer.results', answer['results'], required=True)
        spec.results = _selector('answer.results', results)
    for name in ('number', 'id', 'batch_id', 'status', 'price', 'price_currency'):
        if answer.get(f'{name}_path') is not None:
            setattr(spec, name if name != 'price_currency' else 'price_currency_path',
                    _selector(f'answer.{name}_path', answer[f'{name}_path']))
    if spec.accepted is None and spec.results is None and spec.id is None:
        _fail('answer', _lt('say what an accepted answer looks like: accepted, results or id_path '
                            '(an HTTP status alone is not enough)'))
    spec.match = _choice('answer.match', answer.get('match', 'number' if spec.number else 'order'), MATCHES)
    if spec.match == 'number' and spec.number is None:
        _fail('answer.number_path', _lt('missing: where the number is in a result (match number)'))
    if spec.match == 'number' and spec.results is None:
        _fail('answer.results', _lt('missing: match number needs the per-recipient results'))
    if answer.get('ok_values') is not None:
        if spec.status is None:
            _fail('answer.ok_values', _lt('needs status_path'))
        spec.ok_values = _values('answer.ok_values', answer['ok_values'])
    if spec.results is not None and spec.id is None and spec.ok_values is None:
        # Every item would count as accepted, whatever it says.
        _fail('answer.results', _lt('say how a result is accepted: id_path, or status_path with ok_values'))
    if answer.get('price_regex') is not None:
        spec.price_regex = _regex('answer.price_regex', answer['price_regex'])
    currency = _text('answer.price_currency', answer.get('price_currency'))
    if currency and not re.fullmatch(r'[A-Za-z]{3}', currency):
        _fail('answer.price_currency', _lt('expected an ISO 4217 code, e.g. EUR'))
    spec.price_currency = currency.upper()
    rules = answer.get('rules') or []
    if not isinstance(rules, list):
        _fail('answer.rules', _lt('expected a list of rules'))
    for index, rule in enumerate(rules):
        where = f'answer.rules[{index}]'
        rule = _mapping(where, rule, RULE_KEYS)
        outcome = _choice(f'{where}.outcome', rule.get('outcome'), tuple(RULE_OUTCOMES))
        kind, throttled = RULE_OUTCOMES[outcome]
        spec.rules.append(Rule(_condition(where, rule, allow_status=True), kind, throttled,
                               _text(f'{where}.reason', rule.get('reason'))))
    return spec


def _report(value):
    if value is None:
        return None
    report = _mapping('report', value, REPORT_KEYS)
    spec = ReportSpec(
        id=_selector('report.id', report.get('id'), key_names=True),
        status=_selector('report.status', report.get('status'), key_names=True),
        delivered=_values('report.delivered', report.get('delivered', []), required=False) or frozenset(),
        failed=_values('report.failed', report.get('failed', []), required=False) or frozenset(),
        answer=_text('report.answer', report.get('answer')) if report.get('answer') is not None else '',
    )
    if not spec.delivered and not spec.failed:
        _fail('report.delivered', _lt('missing: the statuses that mean delivered (and failed)'))
    if report.get('items') is not None:
        spec.items = _selector('report.items', _text('report.items', report['items'], required=True))
    for name in ('number', 'error'):
        if report.get(name) is not None:
            setattr(spec, name, _selector(f'report.{name}', report[name], key_names=True))
    return spec


def _balance(value):
    if value is None:
        return None
    balance = _mapping('balance', value, BALANCE_KEYS)
    spec = BalanceSpec(url=_text('balance.url', balance.get('url'), required=True),
                       method=_choice('balance.method', balance.get('method', 'GET'), METHODS, upper=True),
                       params=list(_string_map('balance.params', balance.get('params')).items()))
    if not spec.url.startswith(('{base_url}', 'http://', 'https://')):
        _fail('balance.url', _lt('must start with {base_url}, https:// or http://'))
    if balance.get('path') is not None:
        spec.path = _selector('balance.path', balance['path'])
    if balance.get('regex') is not None:
        spec.regex = _regex('balance.regex', balance['regex'])
    if spec.path is None and spec.regex is None:
        _fail('balance.path', _lt('missing: where the balance is in the answer (path or regex)'))
    return spec


# ---------------------------------------------------------------------- placeholders


def _check_template(where, text, spec, used, in_each=False, bare_ok=False, balance=False):
    try:
        names = placeholders(text)
    except TemplateError as error:
        _fail(where, error.args[0])
    several = spec.max_recipients > 1
    for name in names:
        if name not in PLACEHOLDERS:
            _fail(where, _lt('unknown placeholder {%(name)s} (known: %(known)s)', name=name,
                             known=', '.join(f'{{{known}}}' for known in PLACEHOLDERS)))
        if balance and name in SEND_ONLY:
            _fail(where, _lt('{%(name)s} has no value outside a send', name=name))
        if name == 'sms_type' and not spec.type_values:
            _fail(where, _lt('{sms_type} needs type_values (transactional and marketing)'))
        if name == 'sms_encoding' and not spec.encoding_values:
            _fail(where, _lt('{sms_encoding} needs encoding_values (gsm and unicode)'))
        if several and not in_each:
            if name == 'uuid':
                _fail(where, _lt('{uuid} outside $each needs recipients.max 1'))
            if name in NUMBER_PLACEHOLDERS and spec.join == 'list' and not (bare_ok and bare_placeholder(text)):
                _fail(where, _lt('with recipients.join list, {%(name)s} must be the whole value '
                                 '(or use $each, or join separator)', name=name))
        used.add(name)


def _scan_send(spec):
    used = set()
    _check_template('url', spec.url, spec, used)
    for name, template in spec.headers.items():
        _check_template(f'headers.{name}', template, spec, used)
    for name, template in spec.params:
        _check_template(f'params.{name}', template, spec, used, bare_ok=True)
    for key in ('value', 'username', 'password'):
        if key in spec.auth:
            _check_template(f'auth.{key}', spec.auth[key], spec, used)
    if spec.body is not None:
        _scan_json('body', spec.body, spec, used, in_each=False)
    return used


def _scan_json(where, node, spec, used, in_each):
    if isinstance(node, dict):
        if is_each(node):
            if len(node) != 1:
                _fail(where, _lt('$each must be the only key of its object'))
            if in_each:
                _fail(where, _lt('$each inside $each'))
            _scan_json(f'{where}.{EACH}', node[EACH], spec, used, in_each=True)
            return
        for key, item in node.items():
            _scan_json(f'{where}.{key}', item, spec, used, in_each)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _scan_json(f'{where}[{index}]', item, spec, used, in_each)
    elif isinstance(node, str):
        _check_template(where, node, spec, used, in_each=in_each, bare_ok=True)


def _scan_balance(spec):
    used = set()
    _check_template('balance.url', spec.balance.url, spec, used, balance=True)
    for name, template in spec.balance.params:
        _check_template(f'balance.params.{name}', template, spec, used, balance=True)
    for template in spec.headers.values():
        if not any(placeholder in SEND_ONLY for placeholder in placeholders(template)):
            used.update(placeholders(template))
    for key in ('value', 'username', 'password'):
        if key in spec.auth:
            used.update(placeholders(spec.auth[key]))
    return used

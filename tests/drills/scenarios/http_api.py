"""The HTTP API account beside the built-in providers, with its provider's delivery reports.

``http_api_reports(bench)`` runs an Odoo HTTP server (as the webhook drill does) and queues
SMS on four routes at once: Sweego, Twilio and OVH first (``MIXED`` each), and the HTTP API
account first (``HTTP_API_SMS``, the account made from the Infobip template, on the Infobip
stand-in), one of those to a number the stand-in reports undelivered. One worker sends them
all. Every SMS must be sent once, each by the primary of its route. The stand-in posts one
report per SMS to the delivery report URL each request carried (the template's
``{callback_url}``: ``/sms_router/http_api/report/<account>/<token>``); every one must be
answered 2xx and mark its attempt: delivered, or undelivered with the provider's reason for
that one number. Then the same report sent with a wrong token, or to another provider's
account, is refused (403) and changes nothing (``digest``: SMS, attempts, trackers).
"""
import json
import time

import requests

from infra.settings import GROUP, HTTP_API, LABEL
from scenarios.base import digits

MIXED = 3              # SMS on each built-in provider's route
HTTP_API_SMS = 6       # SMS on the HTTP API route; the last one is reported undelivered
REPORTS_WAIT_S = 20    # for the reports to be posted and applied
REFUSAL = 403


def http_api_reports(bench):
    """The HTTP API account in a mixed run: sent once, its delivery reports applied."""
    row = bench.begin(f'{LABEL[HTTP_API]} in a mixed run: delivery reports')
    with bench.http_server() as base:
        return _run(bench, row, base)


def _run(bench, row, base):
    queued = []
    primaries = {}
    for provider in ('sweego', 'twilio', 'ovh'):
        batch = bench.queue(row, GROUP[provider], MIXED)
        primaries.update({item['uuid']: provider for item in batch})
        queued += batch
    ours = bench.queue(row, GROUP[HTTP_API], HTTP_API_SMS)
    primaries.update({item['uuid']: HTTP_API for item in ours})
    queued += ours
    undelivered = ours[-1]
    bench.sandbox.configure(HTTP_API, undelivered_numbers=[undelivered['number']])
    bench.send('sender', timeout=60)
    bench.sandbox.wait_callbacks(timeout=10)

    # The reports are applied as they come (or parked, then applied, when one beats the
    # commit of its batch): wait until every HTTP API attempt has its final state.
    uuids = [item['uuid'] for item in ours]
    deadline = time.monotonic() + REPORTS_WAIT_S
    while True:
        info = bench.control.call('inspect', uuids=uuids)
        final = {uuid: next((a for a in info['sms'][uuid]['attempts'] if a['accepted']), None)
                 for uuid in uuids}
        states = {uuid: attempt['delivery_state'] if attempt else '' for uuid, attempt in final.items()}
        if all(state in ('delivered', 'undelivered') for state in states.values()) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    tally = bench.tally(row, queued)
    callbacks = bench.sandbox.counters(HTTP_API)['callbacks']

    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    wrong_route = [item['number'] for item in queued
                   if _winner(tally, item['uuid']) != primaries[item['uuid']]]
    bench.check(row, not wrong_route, f'not sent by the primary of their route: {wrong_route}')
    bench.check(row, tally.sent_by.get(HTTP_API, 0) == HTTP_API_SMS,
                f'{tally.sent_by.get(HTTP_API, 0)}/{HTTP_API_SMS} sent by the HTTP API account: {tally.sent_by}')
    bench.check(row, callbacks['sent'] == HTTP_API_SMS and not callbacks['failed'],
                f'the stand-in\'s reports: {callbacks} (expected {HTTP_API_SMS} answered 2xx)')
    expected = {item['uuid']: 'undelivered' if item is undelivered else 'delivered' for item in ours}
    wrong = {item['number']: states[item['uuid']] for item in ours
             if states[item['uuid']] != expected[item['uuid']]}
    bench.check(row, not wrong, f'delivery states not as reported: {wrong}')
    reason = (final[undelivered['uuid']] or {}).get('delivery_reason', '')
    bench.check(row, bool(reason), 'the undelivered SMS has no delivery reason')

    # Misdirected reports: a wrong token, another provider's account. Same refusal, no effect.
    delivered = next(item for item in ours if item is not undelivered)
    report = json.dumps({'results': [{
        'messageId': final[delivered['uuid']]['message_id'], 'to': digits(delivered['number']),
        'status': {'groupId': 2, 'groupName': 'UNDELIVERABLE', 'id': 9, 'name': 'UNDELIVERABLE_NOT_DELIVERED'},
        'error': {'groupId': 1, 'groupName': 'HANDSET_ERRORS', 'id': 27, 'name': 'EC_ABSENT_SUBSCRIBER'},
    }]}).encode()
    before = bench.control.call('digest')
    refused = {}
    for label, account in (('wrong token', bench.accounts[HTTP_API]), ("Sweego's account", bench.accounts['sweego'])):
        url = f'{base}/sms_router/http_api/report/{account}/{"x" * 43}'
        try:
            refused[label] = requests.post(url, data=report, headers={'Content-Type': 'application/json'},
                                           timeout=15).status_code
        except requests.RequestException as error:
            refused[label] = f'error {type(error).__name__}'
    after = bench.control.call('digest')
    bench.check(row, all(status == REFUSAL for status in refused.values()),
                f'misdirected reports answered {refused}, expected {REFUSAL}')
    changed = sorted(name for name in ('sms', 'attempts', 'trackers') if before[name] != after[name])
    bench.check(row, not changed, f'misdirected reports changed {changed}')

    row.notes.append(f'{len(queued)} SMS on 4 routes at once: sent by '
                     + ', '.join(f'{k} {v}' for k, v in sorted(tally.sent_by.items()))
                     + ', each by the primary of its route')
    counts = {}
    for state in states.values():
        counts[state or 'none'] = counts.get(state or 'none', 0) + 1
    row.notes.append(f'{LABEL[HTTP_API]}: {callbacks["sent"]} reports posted by the stand-in to the URL '
                     f'of each request, answered 2xx; attempts '
                     + ', '.join(f'{k} {v}' for k, v in sorted(counts.items()))
                     + f' (the undelivered one: "{reason[:60]}")')
    row.notes.append('a report with a wrong token or on another provider\'s account: '
                     + ', '.join(f'{k} {v}' for k, v in refused.items()) + ', nothing changed')
    return bench.finish(row)


def _winner(tally, uuid):
    attempts = tally.info['sms'][uuid]['attempts']
    return next((a['provider'] for a in attempts if a['accepted']), None)

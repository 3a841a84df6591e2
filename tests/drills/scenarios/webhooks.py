"""Forged, replayed, garbled and misdirected webhooks change nothing.

``webhooks(bench)`` runs an Odoo HTTP server (``odoo server --workers=0``) on
``--http-port``, sends one SMS per provider, lets the sandbox's genuine delivery reports
land, then calls the webhooks of Sweego (Standard Webhooks signature), Twilio (status
callbacks and inbound STOP, HMAC-SHA1 signature) and OVH (secret token in the URL):

- positive controls first: authentic calls do change things (so that "nothing changed"
  below is not the absence of any effect);
- then calls without or with a wrong signature or token, changed after signing, replayed
  after an hour, on an unknown or another provider's account: every refusal gets the same
  answer (403, one body) from every provider, so that account ids cannot be enumerated;
  signed garbage gets 400, a signed report naming another SMS 404; replays and unknown ids
  are answered 200 and ignored.

SMS, attempts, trackers, blacklist and Sweego events must be unchanged by all of them. The
calls and their HTTP statuses are printed after the table (``Row.webhook_results``).
"""
import base64
import json
import os
import time
import urllib.parse
from datetime import datetime, timezone

import requests

from sandbox.server import (
    PROVIDERS, SWEEGO_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN, sweego_signature, twilio_signature,
)
from scenarios.base import digits


def webhooks(bench):
    """Forged, replayed, garbled and misdirected webhooks change nothing."""
    row = bench.begin('malformed webhooks (Sweego, Twilio, OVH)')
    with bench.http_server() as base:
        return _probe(bench, row, base)


def _probe(bench, row, base):
    sweego_id = bench.accounts['sweego']
    twilio_id = bench.accounts['twilio']
    ovh_id = bench.accounts['ovh']
    bench.sandbox.configure('sweego',
                            webhook_url=f'{base}/sms_router_sweego/webhook/{sweego_id}')
    items = []
    for group in (1, 2, 3):
        number = bench.numbers(group, 1)[0]
        items.append({'number': number, 'name': f'Drill contact {group}',
                      'body': f'[webhooks] your order {group} is ready'})
    queued = bench.control.call('queue_notified', items=items)
    bench.send('sender', timeout=60)
    bench.sandbox.wait_callbacks(timeout=10)
    uuids = [item['uuid'] for item in queued]
    refs = bench.control.call('webhook_refs', uuids=uuids)
    by_provider = {ref['provider']: (uuid, ref) for uuid, ref in refs['accepted'].items()}
    bench.check(row, set(by_provider) == set(PROVIDERS), f'accepted by {sorted(by_provider)}')
    if set(by_provider) != set(PROVIDERS):
        return bench.finish(row)
    # Genuine reports from the sandbox (Sweego events, Twilio status callbacks) landed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = bench.control.call('inspect', uuids=uuids)
        states = {info['sms'][uuid]['attempts'][-1]['provider']:
                  info['sms'][uuid]['attempts'][-1]['delivery_state'] for uuid in uuids}
        if states.get('sweego') == 'delivered' and states.get('twilio') == 'delivered':
            break
        time.sleep(0.3)
    bench.check(row, states.get('sweego') == 'delivered' and states.get('twilio') == 'delivered',
                f'genuine callbacks from the sandbox not applied: {states}')
    callbacks = {p: bench.sandbox.counters(p)['callbacks'] for p in ('sweego', 'twilio')}

    session = requests.Session()
    results = []
    # Every refusal (unknown account, another provider's account, bad or missing token or
    # signature, stale timestamp) gets the same answer from every provider's webhook, so
    # that account ids cannot be enumerated.
    refusal = 403
    refusal_bodies = set()

    def post(label, url, expect, data=b'', headers=None, method='POST'):
        try:
            response = session.request(method, url, data=data, headers=headers or {},
                                       timeout=15, allow_redirects=False)
            status = response.status_code
            if status == refusal:
                refusal_bodies.add(response.text)
        except requests.RequestException as error:
            status = f'error {type(error).__name__}'
        results.append((label, status, expect))
        return status

    # --- Sweego: Standard Webhooks signature over "id.timestamp.body".
    s_uuid, s_ref = by_provider['sweego']
    s_url = f'{base}/sms_router_sweego/webhook/{sweego_id}'

    def sweego_event(event_type, swg_uid, event_id=None):
        event_id = event_id or f'evt-{os.urandom(6).hex()}'
        return event_id, json.dumps({
            'event_id': event_id, 'event_type': event_type, 'channel': 'sms',
            'swg_uid': swg_uid, 'transaction_id': s_ref['batch_id'],
            'phone_number': '00' + digits(s_ref['number']), 'status': 'undelivered',
            'timestamp': datetime.now(timezone.utc).isoformat()}).encode()

    def sweego_headers(event_id, body, secret=SWEEGO_WEBHOOK_SECRET, timestamp=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        return {'webhook-id': event_id, 'webhook-timestamp': timestamp,
                'webhook-signature': sweego_signature(secret, event_id, timestamp, body),
                'Content-Type': 'application/json'}

    genuine_id, genuine = sweego_event('sms_undelivered', s_ref['message_id'])
    genuine_headers = sweego_headers(genuine_id, genuine)

    # --- Twilio: HMAC-SHA1 over the URL and the sorted parameters.
    t_uuid, t_ref = by_provider['twilio']
    o_uuid, o_ref = by_provider['ovh']
    t_url = f'{base}/sms_router_twilio/status/{twilio_id}/{t_uuid}'
    t_form = {'MessageSid': t_ref['message_id'], 'SmsSid': t_ref['message_id'],
              'MessageStatus': 'delivered', 'SmsStatus': 'delivered',
              'AccountSid': 'AC' + '0' * 32, 'To': t_ref['number'], 'From': '+15005550006',
              'ApiVersion': '2010-04-01'}

    def twilio_headers(url, form, token=TWILIO_AUTH_TOKEN):
        return {'X-Twilio-Signature': twilio_signature(token, url, form),
                'Content-Type': 'application/x-www-form-urlencoded'}

    def form_body(form):
        return urllib.parse.urlencode(form).encode()

    stop_number = '+33699887766'
    inbound_url = f'{base}/sms_router_twilio/inbound/{twilio_id}'
    stop_form = {'From': stop_number, 'To': '+15005550006', 'Body': 'STOP',
                 'MessageSid': 'SM' + os.urandom(16).hex(), 'AccountSid': 'AC' + '0' * 32}

    # --- OVH: a secret token in the URL.
    o_url = f'{base}/sms_router_ovh/callback/{ovh_id}/{refs["ovh_token"]}'
    o_report = {'id': o_ref['message_id'], 'dlr': '2', 'receiver': o_ref['number']}

    # Positive controls: authentic calls do change things (so "nothing changed" below
    # is not the absence of any effect).
    post('sweego: genuine sms_undelivered', s_url, 200, genuine, genuine_headers)
    post('twilio: genuine inbound STOP', inbound_url, 200, form_body(stop_form),
         twilio_headers(inbound_url, stop_form))
    post('ovh: genuine report dlr=2', o_url + '?' + urllib.parse.urlencode(o_report), 200,
         method='GET')
    controls = bench.control.call('inspect', uuids=uuids)
    control_states = {controls['sms'][u]['attempts'][-1]['provider']:
                      controls['sms'][u]['attempts'][-1]['delivery_state'] for u in uuids}
    before = bench.control.call('digest')
    bench.check(row, control_states == {'sweego': 'undelivered', 'twilio': 'delivered',
                                        'ovh': 'undelivered'}
                and stop_number in before['blacklisted'],
                f'positive controls: {control_states}, blacklist {before["blacklisted"]}')
    results_controls = list(results)
    results.clear()
    # Dates are stored to the second: a replay that rewrote one must show.
    time.sleep(1.1)

    # --- Sweego: refused calls.
    forged_id, forged = sweego_event('sms_sent', s_ref['message_id'])
    post('sweego: no signature', s_url, refusal, forged, {'Content-Type': 'application/json'})
    post('sweego: signed with another secret', s_url, refusal, forged,
         sweego_headers(forged_id, forged, secret=base64.b64encode(b'not-the-secret').decode()))
    tampered = forged.replace(b'sms_sent', b'sms_stop')
    post('sweego: body changed after signing', s_url, refusal, tampered,
         sweego_headers(forged_id, forged))
    post('sweego: genuine call replayed after 1 h', s_url, refusal, forged,
         sweego_headers(forged_id, forged, timestamp=int(time.time()) - 3600))
    post('sweego: genuine call replayed at once', s_url, 200, genuine, genuine_headers)
    junk_id = f'evt-{os.urandom(6).hex()}'
    junk = b'\x00\xff not json {'
    post('sweego: signed garbage', s_url, 400, junk, sweego_headers(junk_id, junk))
    unknown_id, unknown = sweego_event('sms_undelivered', '03-' + os.urandom(16).hex())
    post('sweego: signed, unknown swg_uid', s_url, 200, unknown,
         sweego_headers(unknown_id, unknown))
    post('sweego: unknown account', f'{base}/sms_router_sweego/webhook/999999', refusal,
         forged, sweego_headers(forged_id, forged))
    post('sweego: Twilio account id', f'{base}/sms_router_sweego/webhook/{twilio_id}', refusal,
         forged, sweego_headers(forged_id, forged))

    # --- Twilio: refused calls.
    undelivered = dict(t_form, MessageStatus='undelivered', SmsStatus='undelivered',
                       ErrorCode='30003')
    post('twilio: no signature', t_url, refusal, form_body(undelivered),
         {'Content-Type': 'application/x-www-form-urlencoded'})
    post('twilio: signed with another token', t_url, refusal, form_body(undelivered),
         twilio_headers(t_url, undelivered, token='not-the-token'))
    post('twilio: parameter changed after signing', t_url, refusal, form_body(undelivered),
         twilio_headers(t_url, t_form))
    post('twilio: garbage', t_url, refusal, os.urandom(64),
         {'X-Twilio-Signature': 'garbage', 'Content-Type': 'application/x-www-form-urlencoded'})
    other_url = f'{base}/sms_router_twilio/status/{twilio_id}/{o_uuid}'
    post('twilio: signed, SID of another SMS', other_url, 404, form_body(undelivered),
         twilio_headers(other_url, undelivered))
    ghost = dict(undelivered, MessageSid='SM' + os.urandom(16).hex())
    ghost['SmsSid'] = ghost['MessageSid']
    post('twilio: signed, unknown MessageSid', t_url, 200, form_body(ghost),
         twilio_headers(t_url, ghost))
    post('twilio: unknown account', f'{base}/sms_router_twilio/status/999999/{t_uuid}',
         refusal, form_body(undelivered), twilio_headers(t_url, undelivered))
    post('twilio: genuine delivered replayed', t_url, 200, form_body(t_form),
         twilio_headers(t_url, t_form))
    forged_stop = dict(stop_form, From='+33611223344')
    post('twilio: inbound STOP, bad signature', inbound_url, refusal, form_body(forged_stop),
         twilio_headers(inbound_url, forged_stop, token='not-the-token'))
    post('twilio: genuine STOP replayed', inbound_url, 200, form_body(stop_form),
         twilio_headers(inbound_url, stop_form))

    # --- OVH: refused calls.
    query = '?' + urllib.parse.urlencode(dict(o_report, dlr='1'))
    post('ovh: wrong token', f'{base}/sms_router_ovh/callback/{ovh_id}/not-the-token{query}',
         refusal, method='GET')
    post('ovh: token on another account',
         f'{base}/sms_router_ovh/callback/{sweego_id}/{refs["ovh_token"]}{query}', refusal,
         method='GET')
    post('ovh: unknown account', f'{base}/sms_router_ovh/callback/999999/x{query}', refusal,
         method='GET')
    post('ovh: garbage (no SMS id)', o_url, 400, b'\x00\xff{not json',
         {'Content-Type': 'application/json'})
    post('ovh: unknown SMS id', o_url + '?id=999999999&dlr=1', 200, method='GET')
    post('ovh: genuine report replayed',
         o_url + '?' + urllib.parse.urlencode(o_report), 200, method='GET')

    after = bench.control.call('digest')
    for label, status, expect in results_controls + results:
        bench.check(row, status == expect, f'{label}: HTTP {status}, expected {expect}')
    bench.check(row, len(refusal_bodies) <= 1,
                f'refusals answered with different bodies: {sorted(refusal_bodies)}')
    changed = [name for name in ('sms', 'attempts', 'trackers', 'blacklist', 'sweego_events')
               if before.get(name) != after.get(name)]
    bench.check(row, not changed, f'changed by refused/replayed calls: {changed}')
    parked = after['sweego_event_states'].get('parked', 0) - \
        before['sweego_event_states'].get('parked', 0)
    tally = bench.tally(row, queued)
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    rejected = sum(1 for _label, status, _expect in results if status not in (200,))
    row.notes.append(f'positive controls first: sandbox callbacks (Sweego '
                     f'{callbacks["sweego"]["sent"]}, Twilio {callbacks["twilio"]["sent"]}) '
                     f'and 3 authentic calls applied')
    row.notes.append(f'{len(results)} malformed/replayed calls: {rejected} refused '
                     f'(the same {refusal} answer for every refusal; 404 for a signed report '
                     f'naming another SMS, 400 for signed garbage), '
                     f'{len(results) - rejected} answered 200 and ignored '
                     f'(replays, unknown ids); trackers, attempts, blacklist, SMS unchanged')
    if parked:
        row.notes.append(f'the signed event for an unknown swg_uid is parked with the '
                         f'router\'s delivery reports ({parked} event), applied only if that '
                         f'id is ever sent')
    row.webhook_results = results_controls + results
    return bench.finish(row, f'{len(results_controls) + len(results)} webhook calls')

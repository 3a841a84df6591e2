"""Translatable reasons: English text as before, rendered again in another language."""
import copy
import pickle
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from addons.sms_router.engine.breakers import AccountBreaker, MemoryBreakerStore
from addons.sms_router.engine.dispatcher import AccountHandle, Dispatcher, QueuedSms
from addons.sms_router.engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from addons.sms_router.engine.reasons import Reason, _lt, join_reasons, mask_secrets, reason_of, render
from addons.sms_router.engine.routing import NumberError, parse_destination
from addons.sms_router.engine.transport import HttpClient, TransportFailure

# What sms_router/i18n/fr.po says for the templates these tests meet.
FRENCH = {
    'all %(count)s attempts failed: %(attempts)s': 'les %(count)s tentatives ont échoué : %(attempts)s',
    '%(before)s; %(after)s': '%(before)s ; %(after)s',
    '%(number)s. %(account)s: %(outcome)s: %(reason)s': '%(number)s. %(account)s : %(outcome)s : %(reason)s',
    'provider error': 'erreur du fournisseur',
    'skipped': 'ignoré',
    'breaker forced open (maintenance)': 'disjoncteur forcé ouvert (maintenance)',
    'breaker open (after %(count)s failures)': 'disjoncteur ouvert (après %(count)s échecs)',
    'paused by the provider until %(time)s UTC': "mis en pause par le fournisseur jusqu'à %(time)s UTC",
    '"%(number)s" is not a valid phone number': '"%(number)s" n\'est pas un numéro de téléphone valide',
    'connection refused or host unreachable': 'connexion refusée ou hôte injoignable',
    'no answer within %(seconds)s s after the request was sent':
        "aucune réponse dans les %(seconds)s s après l'envoi de la requête",
}


def french(template, module):
    return FRENCH.get(template, template)


class Client(ProviderClient):
    def __init__(self, reason):
        self.reason = reason

    def send(self, request):
        return BatchResult.for_all(request, OutcomeKind.PROVIDER, self.reason)


def test_a_reason_is_its_english_text():
    reason = _lt('credit %(left)s below %(threshold)s', left='1.00', threshold='5.00')
    assert reason == 'credit 1.00 below 5.00'
    assert isinstance(reason, str)
    assert (reason.template, reason.params, reason.module) == (
        'credit %(left)s below %(threshold)s', {'left': '1.00', 'threshold': '5.00'}, None)
    assert _lt('plain') == 'plain' and _lt('plain').params is None
    assert _lt('%s and %%', 'x') == 'x and %'
    with pytest.raises(TypeError):
        _lt('%s %(a)s', 'x', a='y')
    # Copies and pickles (e.g. a result crossing processes) keep what rendering needs.
    for clone in (copy.copy(reason), copy.deepcopy(reason), pickle.loads(pickle.dumps(reason))):
        assert clone == reason and clone.template == reason.template and clone.params == reason.params


def test_render_translates_the_template_then_the_parameters():
    inner = _lt('breaker forced open (maintenance)')
    outer = _lt('%(number)s. %(account)s: %(outcome)s: %(reason)s', number=1, account='OVH',
                outcome=_lt('skipped'), reason=inner)
    assert outer == '1. OVH: skipped: breaker forced open (maintenance)'
    assert render(outer, french) == '1. OVH : ignoré : disjoncteur forcé ouvert (maintenance)'
    assert type(render(outer, french)) is str
    # Not a Reason (a provider's own text, a number): unchanged.
    assert render('HTTP 503 Service Unavailable', french) == 'HTTP 503 Service Unavailable'
    assert render(None, french) is None
    # No translation: the English text.
    assert render(_lt('unknown template %(x)s', x='y'), french) == 'unknown template y'


def test_a_broken_translation_gives_the_english_text():
    reason = _lt('breaker open (after %(count)s failures)', count=3)

    def broken(template, module):
        return 'disjoncteur ouvert après %(compte)s échecs'

    def failing(template, module):
        raise RuntimeError('no catalogue')

    assert render(reason, broken) == 'breaker open (after 3 failures)'
    assert render(reason, failing) == 'breaker open (after 3 failures)'


def test_the_translator_is_asked_with_the_addon_of_the_template():
    asked = []
    render(Reason('x %(y)s', {'y': Reason('z', module='sms_router_ovh')}, 'sms_router_twilio'),
           lambda template, module: asked.append((template, module)))
    assert asked == [('z', 'sms_router_ovh'), ('x %(y)s', 'sms_router_twilio')]


def test_join_reasons():
    assert join_reasons([]) == ''
    assert join_reasons([_lt('skipped')]) == 'skipped'
    joined = join_reasons([_lt('skipped'), 'HTTP 503', _lt('provider error')])
    assert joined == 'skipped; HTTP 503; provider error'
    assert render(joined, french) == 'ignoré ; HTTP 503 ; erreur du fournisseur'


def test_reason_of_an_exception():
    with pytest.raises(NumberError) as caught:
        parse_destination('12', 'FR')
    reason = reason_of(caught.value)
    assert reason == str(caught.value) and isinstance(reason, Reason)
    assert render(reason, french) == '"12" n\'est pas un numéro de téléphone valide'
    assert reason_of(ValueError('plain')) == 'plain'


def test_exhausted_chain_reason_renders_every_attempt():
    store = MemoryBreakerStore()
    forced = AccountBreaker('B', store)
    forced.force_open()
    chain = (AccountHandle('A', 'Sweego', Client(_lt('connection refused or host unreachable'))),
             AccountHandle('B', 'OVH', Client('unused'), breaker=forced))
    verdict = Dispatcher().dispatch([QueuedSms('m', 'Hi', parse_destination('+33612345678'), chain)])['m']
    english = ('all 2 attempts failed: 1. Sweego: provider error: connection refused or host unreachable; '
               '2. OVH: skipped: breaker forced open (maintenance)')
    assert verdict.outcome.reason == english
    assert render(verdict.outcome.reason, french) == (
        'les 2 tentatives ont échoué : 1. Sweego : erreur du fournisseur : connexion refusée ou hôte '
        'injoignable ; 2. OVH : ignoré : disjoncteur forcé ouvert (maintenance)')
    # Each attempt of the trail renders on its own too.
    assert [render(attempt.outcome.reason, french) for attempt in verdict.attempts] == [
        'connexion refusée ou hôte injoignable', 'disjoncteur forcé ouvert (maintenance)']


def test_breaker_reasons_are_translatable():
    now = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
    store = MemoryBreakerStore()
    breaker = AccountBreaker('A', store, clock=lambda: now)
    for _ in range(3):
        breaker.record(False, RecipientOutcome(OutcomeKind.PROVIDER, 'HTTP 503').reason)
    refused = breaker.admit()
    assert refused.reason == 'breaker open (after 3 failures)'
    assert render(refused.reason, french) == 'disjoncteur ouvert (après 3 échecs)'
    store.update('A', paused_until=now + timedelta(minutes=5), state='closed')
    breaker.refresh()
    assert render(breaker.admit().reason, french) == "mis en pause par le fournisseur jusqu'à 12:05:00 UTC"


def test_a_long_reason_is_cut_and_a_short_one_stays_translatable():
    store = MemoryBreakerStore()
    breaker = AccountBreaker('A', store)
    breaker.record(False, _lt('connection refused or host unreachable'))
    assert isinstance(store.load('A').last_failure, Reason)
    breaker.record(False, _lt('%(text)s', text='x' * 600))
    assert store.load('A').last_failure == 'x' * 500


@responses.activate
def test_transport_failures_are_translatable():
    client = HttpClient('https://provider.test', timeout=2.5)
    responses.add(responses.POST, 'https://provider.test/send', body=requests.exceptions.ReadTimeout())
    with pytest.raises(TransportFailure) as caught:
        client.request('POST', '/send')
    assert caught.value.reason == 'no answer within 2.5 s after the request was sent'
    assert render(caught.value.reason, french) == "aucune réponse dans les 2.5 s après l'envoi de la requête"


def test_mask_secrets_keeps_a_clean_reason_translatable():
    reason = _lt('refused: %(details)s', details='bad number')
    assert mask_secrets(reason, ['s3cr3t'], '***') is reason
    masked = mask_secrets(_lt('refused: %(details)s', details='token s3cr3t'), ['s3cr3t', ''], '***')
    assert masked == 'refused: token ***'
    assert not isinstance(masked, Reason)
    assert mask_secrets('plain s3cr3t text', ['s3cr3t'], '[redacted]') == 'plain [redacted] text'

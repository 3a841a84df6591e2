"""The dispatcher sends each account the body its smart encoding makes, and counts what its
provider appends."""
from addons.sms_router.engine.dispatcher import AccountHandle, Dispatcher, QueuedSms
from addons.sms_router.engine.outcomes import BatchResult, OutcomeKind, ProviderClient, RecipientOutcome
from addons.sms_router.engine.routing import parse_destination
from addons.sms_router.engine.segments import GSM7, UCS2
from addons.sms_router.engine.smart_encoding import LETTERS, OFF, TYPOGRAPHY

FR = parse_destination('+33612345678')
GB = parse_destination('+447400123456')


class RecordingClient(ProviderClient):
    """Accepts everything and keeps the requests; ``fail`` makes it a provider error."""

    def __init__(self, name, max_recipients=10, mixed=False, fail=False, suffix=''):
        self.provider = name
        self.max_recipients_per_request = max_recipients
        self.accepts_mixed_bodies = mixed
        self.fail = fail
        self.suffix = suffix
        self.requests = []

    def appended_text(self, region, marketing):
        return self.suffix if marketing and region == 'FR' else ''

    def send(self, request):
        self.requests.append(request)
        kind = OutcomeKind.PROVIDER if self.fail else OutcomeKind.SENT
        return BatchResult({r.key: RecipientOutcome(kind, 'x') for r in request.recipients})

    def bodies(self):
        return [request.body_for(r) for request in self.requests for r in request.recipients]


def account(client, level=OFF, name=None):
    name = name or client.provider
    return AccountHandle(name, name, client, smart_encoding=level)


def sms(key, body, chain, destination=FR, marketing=False):
    return QueuedSms(key, body, destination, tuple(chain), marketing)


BODY = '«\u00a0Rappel\u00a0» : votre RDV est confirmé, reçu à l’accueil\u202f!'


def test_default_is_off_and_body_unchanged():
    client = RecordingClient('a')
    handle = AccountHandle('a', 'a', client)
    assert handle.smart_encoding == OFF
    Dispatcher().dispatch([sms('1', BODY, [handle])])
    assert client.bodies() == [BODY]


def test_typography_and_letters_are_applied_per_account():
    typo, letters = RecordingClient('typo', fail=True), RecordingClient('letters')
    chain = [account(typo, TYPOGRAPHY), account(letters, LETTERS)]
    verdicts = Dispatcher().dispatch([sms('1', BODY, chain)])
    assert verdicts['1'].sent
    # the failed first account got its own version, the second one its own
    assert typo.bodies() == ['"Rappel" : votre RDV est confirmé, reçu à l\'accueil !']
    assert letters.bodies() == ['"Rappel" : votre RDV est confirmé, recu à l\'accueil !']


def test_bodies_equal_after_smart_encoding_share_a_request():
    client = RecordingClient('a')
    chain = [account(client, TYPOGRAPHY)]
    Dispatcher().dispatch([sms('1', 'C’est prêt', chain), sms('2', "C'est prêt", chain)])
    assert len(client.requests) == 1
    assert client.requests[0].body == "C'est prêt"
    assert {r.key for r in client.requests[0].recipients} == {'1', '2'}


def test_mixed_body_clients_get_each_recipient_encoded():
    client = RecordingClient('iap', mixed=True)
    chain = [account(client, LETTERS)]
    Dispatcher().dispatch([sms('1', 'Prêt ?', chain), sms('2', 'Ça coûte 5 €', chain)])
    assert sorted(client.bodies()) == ['Pret ?', 'Ça coute 5 €']
    assert client.requests[0].body is None


def test_measure_counts_smart_encoding_and_appended_text():
    client = RecordingClient('sweego', suffix=' STOP au XXXXX')
    off, letters = account(client, OFF), account(client, LETTERS, name='b')
    body = 'Soldes : -20 % sur tout, ça commence demain. ' * 3     # 135 characters, one ç per copy
    assert len(body) == 135
    assert off.measure(body, 'FR', False)[:3] == (UCS2, 135, 3)            # 67 + 67 + 1
    assert letters.measure(body, 'FR', False)[:3] == (GSM7, 135, 1)
    # marketing to France: the mention (14 characters) makes 149 septets, still one SMS
    assert letters.measure(body, 'FR', True)[:3] == (GSM7, 149, 1)
    assert letters.measure(body + 'x' * 12, 'FR', True)[:3] == (GSM7, 161, 2)
    # not to France: nothing appended
    assert letters.measure(body + 'x' * 12, 'GB', True)[:3] == (GSM7, 147, 1)
    assert letters.measure(body + 'x' * 12, 'FR', False)[:3] == (GSM7, 147, 1)
    assert off.measure(body, 'FR', True).ucs2_chars == ('ç',)


def test_measure_without_appended_text_method():
    class Bare:
        provider = 'bare'
    handle = AccountHandle('bare', 'bare', Bare(), smart_encoding=TYPOGRAPHY)
    assert handle.measure('l’été')[:3] == (GSM7, 5, 1)
    assert ProviderClient().appended_text('FR', True) == ''

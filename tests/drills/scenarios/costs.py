"""Cost reconciliation: the router's cost ledger equals what the providers billed.

``cost_reconciliation(bench)`` runs an Odoo HTTP server (``odoo server --workers=0``, for
Sweego's events and Twilio's status callbacks), gives each sandbox provider prices per
destination country in its own unit (Sweego euros, Twilio US dollars, OVH credits), and
sends a mixed run through the router: French numbers on each provider's route, Belgian and
German ones on the default route, short and long bodies, GSM-7 and UCS-2 (1 to 3 segments),
some failovers (Sweego answers 503 to its first two requests, Twilio 500 to its first one).
The accounts' own price lists are left empty with a default price that no provider uses, so
an SMS whose provider price did not reach the ledger shows.

Then, as in production, the prices that come after the send arrive: Sweego's events
(``sms_price``), Twilio's message resources (its scheduled price look-up) and OVH's outgoing
records (its delivery pull). The ledger (the sum of the cost of the accepted attempts, read
from Odoo) must equal the sandbox's own totals (``Sandbox.billing``) per provider to the
cent (less than half a cent apart), OVH's credits converted with the account's credit value:
right after the send for OVH (its job answers' ``totalCreditsRemoved``, split per receiver),
and for every provider at the end. Every accepted attempt must carry a provider price. As a
control, Twilio's total must *not* reconcile right after the send, while the ledger still
holds the account's estimates (its prices come with the scheduled look-up): the comparison
does see a difference.
"""
import time
from decimal import Decimal


from infra.settings import OVH_CRON, PARKED_CRON
from sandbox.server import PROVIDERS

TWILIO_PRICE_CRON = 'sms_router_twilio.ir_cron_sms_router_twilio_prices'
# What each provider bills per part, by destination (the sandbox's part_prices), and for
# any other destination (part_price). OVH: credits.
PRICES = {
    'sweego': ({'FR': '0.045', 'BE': '0.0725', 'DE': '0.081'}, '0.05'),
    'twilio': ({'FR': '0.0790', 'BE': '0.0953', 'DE': '0.0911'}, '0.0079'),
    'ovh': ({'FR': '1', 'BE': '2.5', 'DE': '3'}, '1'),
}
CURRENCIES = {'sweego': 'EUR', 'twilio': 'USD', 'ovh': 'EUR'}
CREDIT_VALUE = Decimal('0.0451')     # what one OVH credit is worth, in the OVH account's currency
WRONG_PRICE = 9.99                   # the accounts' default price: an estimate shows at once
TOLERANCE = Decimal('0.005')         # "to the cent"
BODIES = (
    'Your code is 4821',                                                   # 1 GSM-7 part
    'Reminder: your appointment is confirmed for tomorrow at 10:30 at the clinic, '
    '12 rue de la Paix. Please bring your card and arrive ten minutes early. '
    'Reply STOP to opt out.',                                              # 2 GSM-7 parts
    'Rappel : votre rendez-vous est confirmé demain à 10 h 30. Merci de prévenir en cas '
    "d'empêchement — à bientôt !",                                         # 2 UCS-2 parts
    'Bonjour, votre commande n° 4821 est prête. Vous pouvez la retirer à l’accueil du magasin '
    'du lundi au samedi, de 9 h à 19 h, sur présentation de ce message. Bonne journée !',  # 3 UCS-2 parts
)


def cost_reconciliation(bench):
    """A mixed run through the sandbox: the ledger equals the providers' bills per provider."""
    row = bench.begin('cost reconciliation (ledger = provider bills)', iap_last_resort=False)
    try:
        with bench.http_server() as base:
            return _run(bench, row, base)
    finally:
        bench.control.call('cost_setup', currencies={}, credit_value=0.0, price_default=0.0)


def _items(bench, row):
    """SMS of every route, country and length: (number, body) pairs."""
    drill = bench._drill_no % 100
    numbers = []
    for group in (1, 2, 3):                   # France, each provider first in turn
        numbers += bench.numbers(group, 8)
    numbers += [f'+3247{drill:02d}{index:05d}' for index in range(1, 7)]      # Belgium
    numbers += [f'+49151{drill:02d}{index:06d}' for index in range(1, 7)]     # Germany
    return [{'number': number, 'body': f'[{row.name[:4]}] {BODIES[index % len(BODIES)]}'}
            for index, number in enumerate(numbers)]


def _run(bench, row, base):
    for provider, (by_country, default) in PRICES.items():
        bench.sandbox.configure(provider, part_prices=by_country, part_price=default)
    bench.sandbox.configure('sweego', webhook_url=f'{base}/sms_router_sweego/webhook/{bench.accounts["sweego"]}')
    # Failovers: Sweego refuses its first two requests, Twilio its first one.
    bench.sandbox.set_mode('sweego', 'http503', fault_count=2, fault_scope='send')
    bench.sandbox.set_mode('twilio', 'http500', fault_count=1, fault_scope='send')
    bench.control.call('cost_setup', currencies=CURRENCIES, credit_value=float(CREDIT_VALUE),
                       price_default=WRONG_PRICE, earlier_asked=True)
    bench.control.call('configure', params={'sms_router_twilio.price_pull_delay_minutes': '0',
                                            'sms_router_ovh.pull_delay_minutes': '0'})
    queued = bench.control.call('queue', items=_items(bench, row))
    uuids = [item['uuid'] for item in queued]
    result = bench.send('sender', timeout=90)
    if result.get('timed_out'):
        row.problems.append('the sender did not empty the queue in time')
    tally = bench.tally(row, queued)
    bench.check(row, tally.sent == len(queued), f'{tally.sent}/{len(queued)} sent')
    failovers = sum(1 for record in tally.info['sms'].values()
                    if any(not attempt['accepted'] for attempt in record['attempts']))
    bench.check(row, failovers > 0, 'no failover happened: the run is not mixed')

    # OVH's price comes with its job answers: the ledger already has it.
    after_send = bench.control.call('costs', uuids=uuids)
    billing = bench.sandbox.billing()
    ovh_problems = reconcile(after_send, billing, only=('ovh',))
    for problem in ovh_problems:
        row.problems.append(f'right after the send: {problem}')
    # Control: Twilio's prices come only with its scheduled look-up, so for now the ledger
    # holds the account's (wrong) estimates, and the comparison must see it. (Sweego's events
    # may already have landed: they are not waited for here.)
    early = reconcile(after_send, billing, only=('twilio',))
    bench.check(row, len(early) == 1, 'before its price look-up, the Twilio estimates reconcile')

    # The prices that come later: Sweego's events, Twilio's message resources, OVH's
    # outgoing records (and the parked reports of events that beat their SMS).
    bench.sandbox.wait_callbacks(timeout=20)
    crons = bench.send('crons', timeout=60, run_crons=[PARKED_CRON, TWILIO_PRICE_CRON, OVH_CRON])
    bench.check(row, not crons.get('failed_crons'), f'scheduled actions failed: {crons.get("failed_crons")}')
    ledger = _wait_for_sweego_prices(bench, uuids)
    billing = bench.sandbox.billing()
    for problem in reconcile(ledger, billing):
        row.problems.append(problem)
    for provider in PROVIDERS:
        line = ledger.get(provider, {'attempts': 0, 'sources': {}})
        bench.check(row, set(line['sources']) <= {'provider'},
                    f'{provider}: attempts without a provider price: {line["sources"]}')
        bench.check(row, line['attempts'] == billing[provider]['messages'],
                    f'{provider}: {line["attempts"]} accepted attempts, the sandbox billed '
                    f'{billing[provider]["messages"]} SMS')
    row.notes.append('ledger = sandbox: ' + ' · '.join(
        f'{provider} {_ledger_total(ledger, provider)} {CURRENCIES[provider]} '
        f'({billing[provider]["messages"]} SMS, {billing[provider]["parts"]} parts'
        + (f', {billing[provider]["amount"]} credits x {CREDIT_VALUE}' if provider == 'ovh' else '')
        + ')' for provider in PROVIDERS))
    row.notes.append(f'{failovers} SMS failed over; OVH reconciled right after the send too '
                     f'(its jobs\' totalCreditsRemoved split per receiver); before its price look-up, '
                     f'Twilio did not (the check sees the estimates)')
    return bench.finish(row)


def _wait_for_sweego_prices(bench, uuids, timeout=20):
    """The ledger once every Sweego attempt has its price (events land asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = bench.control.call('costs', uuids=uuids)
        sources = ledger.get('sweego', {}).get('sources', {})
        if set(sources) <= {'provider'} or time.monotonic() > deadline:
            return ledger
        # An event that beat its SMS waits for the parked reports' scheduled action.
        bench.send('parked', timeout=30, run_crons=[PARKED_CRON])
        time.sleep(0.5)


def _ledger_total(ledger, provider):
    totals = ledger.get(provider, {}).get('totals', {})
    return Decimal(totals.get(CURRENCIES[provider], '0'))


def expected_total(billing, provider):
    """What the ledger must hold for ``provider``: its bill, OVH's credits at their value."""
    amount = Decimal(billing[provider]['amount'])
    return amount * CREDIT_VALUE if provider == 'ovh' else amount


def reconcile(ledger, billing, only=PROVIDERS):
    """Problems, one per provider whose ledger total differs from its bill by half a cent or
    more, or whose ledger holds another currency; [] when they agree to the cent."""
    problems = []
    for provider in only:
        totals = ledger.get(provider, {}).get('totals', {})
        others = sorted(set(totals) - {CURRENCIES[provider]})
        if others:
            problems.append(f'{provider}: costs in {", ".join(others)}, expected {CURRENCIES[provider]} only')
        ledger_total = _ledger_total(ledger, provider)
        expected = expected_total(billing, provider)
        if abs(ledger_total - expected) >= TOLERANCE:
            problems.append(f'{provider}: the ledger says {ledger_total} {CURRENCIES[provider]}, '
                            f'the provider billed {expected} ({billing[provider]["amount"]} '
                            f'{billing[provider]["unit"]})')
    return problems

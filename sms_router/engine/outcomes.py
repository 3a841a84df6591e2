"""The vocabulary shared by the router and every provider client.

A provider client turns one HTTP exchange into one :class:`RecipientOutcome` per recipient.
The outcome's :class:`OutcomeKind` is what the failover engine acts on: stop, fail over, count
against the account's breaker, or apply the company's policy for ambiguous timeouts.
Nothing here imports Odoo, so provider clients stay plain, fast-to-test libraries.
"""
import enum
from dataclasses import dataclass, field

from .reasons import _lt


class OutcomeKind(enum.Enum):
    """How an attempt ended, from the failover engine's point of view."""

    SENT = 'sent'
    # The recipient is the problem (invalid number, not SMS-capable): no provider can fix it.
    RECIPIENT = 'recipient_error'
    # The recipient opted out at the provider: failing over would evade the opt-out.
    OPTED_OUT = 'opted_out'
    # The provider is unavailable (connection refused, 5xx, 429, broken answer): fail over.
    PROVIDER = 'provider_error'
    # The account is refused (credentials, credit, suspended, request rejected as a whole).
    ACCOUNT = 'account_error'
    # This provider cannot reach this destination; the account itself is fine.
    DESTINATION = 'destination_unsupported'
    # The request left but no answer came back: the SMS may or may not have been sent.
    AMBIGUOUS = 'ambiguous'
    # The account cannot be used as configured; no request was made.
    MISCONFIGURED = 'misconfigured'
    # The account was not tried: breaker open, paused after a 429, or credit below threshold.
    SKIPPED = 'skipped'
    # No provider accepted the SMS within its validity: it ends here, unsent, never late.
    EXPIRED = 'expired'
    # Not an answer: a line of the trail saying the SMS waits (its send window is closed, its
    # account's budget is spent or its provider asked to wait). Never a provider's outcome.
    WAITING = 'waiting'

    @property
    def label(self):
        """How people read this outcome, e.g. in the failure reason of an SMS."""
        return OUTCOME_LABELS[self]

    @property
    def is_final(self):
        """Whether the chain stops here, whatever comes after this account."""
        return self in (OutcomeKind.SENT, OutcomeKind.RECIPIENT, OutcomeKind.OPTED_OUT, OutcomeKind.EXPIRED)

    @property
    def counts_against_breaker(self):
        """Whether the outcome says the account or its provider is unhealthy."""
        return self in (OutcomeKind.PROVIDER, OutcomeKind.ACCOUNT, OutcomeKind.AMBIGUOUS)


# The words of the attempt trail's Outcome column (sms.router.attempt), lowercase: they go
# in the middle of a sentence ("2. OVH France: provider error: HTTP 503").
OUTCOME_LABELS = {
    OutcomeKind.SENT: _lt('sent'),
    OutcomeKind.RECIPIENT: _lt('recipient error'),
    OutcomeKind.OPTED_OUT: _lt('opted out'),
    OutcomeKind.PROVIDER: _lt('provider error'),
    OutcomeKind.ACCOUNT: _lt('account error'),
    OutcomeKind.DESTINATION: _lt('destination not supported'),
    OutcomeKind.AMBIGUOUS: _lt('no answer (ambiguous)'),
    OutcomeKind.MISCONFIGURED: _lt('account misconfigured'),
    OutcomeKind.SKIPPED: _lt('skipped'),
    OutcomeKind.EXPIRED: _lt('expired'),
    OutcomeKind.WAITING: _lt('waiting'),
}

# Core Odoo `sms.sms.failure_type` keys used when a chain ends on this kind. They exist on
# sms.sms, mail.notification and mailing.trace alike, so downstream flows never crash.
DEFAULT_FAILURE_TYPE = {
    OutcomeKind.RECIPIENT: 'sms_number_format',
    OutcomeKind.OPTED_OUT: 'sms_optout',
    OutcomeKind.PROVIDER: 'sms_server',
    OutcomeKind.ACCOUNT: 'sms_acc',
    OutcomeKind.DESTINATION: 'sms_country_not_supported',
    OutcomeKind.AMBIGUOUS: 'sms_server',
    OutcomeKind.MISCONFIGURED: 'sms_acc',
    OutcomeKind.SKIPPED: 'sms_server',
    # Known to mail.notification and mailing.trace (Odoo's delivery reports), and to sms.sms
    # through the router (models/sms_sms.py).
    OutcomeKind.EXPIRED: 'sms_expired',
}


@dataclass(frozen=True)
class Recipient:
    """One destination of a send request."""

    key: str        # the Odoo SMS uuid; results are keyed by it
    number: str     # E.164, e.g. '+33612345678'
    region: str     # ISO 3166 alpha-2 of the number, e.g. 'FR' ('' when unknown)
    # Its own body, in the requests of clients that take several bodies in one call
    # (``ProviderClient.accepts_mixed_bodies``); None: the request's body.
    body: str = None


@dataclass(frozen=True)
class SendRequest:
    """One provider call: a body and the recipients that share it."""

    body: str                       # None when each recipient carries its own body
    recipients: tuple
    marketing: bool = False
    # Seconds the provider may keep trying: the remaining validity of its recipients (the
    # smallest, rounded down), set right before the call for clients with a
    # ``validity_range``; None: no validity (see engine/validity.py).
    validity: int = None

    def body_for(self, recipient):
        return recipient.body if recipient.body is not None else self.body


@dataclass
class RecipientOutcome:
    kind: OutcomeKind
    reason: str = ''                # engine.reasons.Reason when translatable
    # Core failure type when this outcome ends the chain; DEFAULT_FAILURE_TYPE otherwise.
    failure_type: str = None
    message_id: str = None          # the provider's id for this recipient's message
    batch_id: str = None            # the provider's id for the whole request (transaction, job)
    retry_after: float = None       # seconds the provider asked us to wait (429, or a 5xx)
    # The provider refused because of its rate limit (HTTP 429, or a code its documentation
    # gives for it): it is healthy, only busy. Set by the clients; a 5xx never sets it, even
    # with a Retry-After (a governed account fails over on it, see Dispatcher._throttled).
    throttled: bool = False
    # Accepted but held by the provider before sending it on (e.g. moderation): the SMS is
    # 'processing' rather than sent.
    held: bool = False
    # What the provider's answer says this recipient's SMS cost, positive, in
    # ``price_currency``; None when the answer says nothing (the ledger then estimates it
    # from the account's price list, or records a price the provider reports later).
    price: float = None
    # ISO 4217 code of ``price`` ('EUR', 'USD'); '' when ``price`` is None.
    price_currency: str = ''
    # For providers billing in credits (OVH's ``totalCreditsRemoved``): this recipient's
    # share of the credits the call removed; the ledger converts them with the account's
    # credit value. None when the answer says nothing.
    credits: float = None

    @property
    def core_failure_type(self):
        return self.failure_type or DEFAULT_FAILURE_TYPE.get(self.kind, 'unknown')


# Account facts that add up over the calls of one dispatch (e.g. the credits each job cost);
# any other fact is replaced by the latest answer (e.g. the credit left after the call).
ADDITIVE_ACCOUNT_UPDATES = frozenset({'credits_removed'})


def merge_account_updates(known, updates):
    """Fold one answer's ``account_updates`` into ``known`` (in place); return ``known``."""
    for name, value in updates.items():
        if name in ADDITIVE_ACCOUNT_UPDATES and name in known:
            known[name] = known[name] + value
        else:
            known[name] = value
    return known


@dataclass
class BatchResult:
    """What one provider call produced."""

    outcomes: dict                  # recipient key -> RecipientOutcome
    # Facts about the account learnt from the answer, e.g. {'credit_balance': 19.84}.
    account_updates: dict = field(default_factory=dict)

    @classmethod
    def for_all(cls, request, kind, reason, **outcome_values):
        """The same outcome for every recipient of ``request`` (whole-request failures)."""
        return cls({
            recipient.key: RecipientOutcome(kind, reason, **outcome_values)
            for recipient in request.recipients
        })


class ProviderClient:
    """Contract of a provider client; see the provider addons for implementations.

    ``send`` makes one provider call (a client may add one corrective call, e.g. to resend
    the valid recipients of a request refused for another one) and never raises for
    provider-side problems:
    it classifies them into outcomes. It may run in a worker thread, so it must not touch
    the Odoo environment unless ``runs_in_main_thread`` is set.
    """

    provider = None
    # How many recipients one call may carry (Twilio: 1; Sweego and OVH take lists).
    max_recipients_per_request = 1
    # Clients that need the Odoo environment (Odoo IAP) run in the sending thread.
    runs_in_main_thread = False
    # Clients whose one call takes recipients with different bodies (Odoo IAP): the
    # dispatcher then sends all the SMS of a round to such an account in as few calls as
    # ``max_recipients_per_request`` allows, each recipient carrying its body.
    accepts_mixed_bodies = False
    # (shortest, longest) validity in seconds the provider takes with a request (longest
    # None: unbounded); None: it takes none. An SMS with less time left than the shortest
    # expires instead of leaving with a longer validity.
    validity_range = None

    def check_configuration(self):
        """Return a message saying what is missing, or None when the client can send."""
        return None

    def appended_text(self, region, marketing):
        """The text the provider itself adds to an SMS to ``region`` (ISO 3166 alpha-2),
        marketing or not (e.g. a STOP mention on marketing SMS to France), separator
        included; '' when it adds nothing. It is billed with the body: the router counts it
        in the SMS's segments (engine/segments.py)."""
        return ''

    def max_send_seconds(self):
        """The longest one ``send`` may take (every exchange it may make, connecting
        included), or None when the client cannot tell."""
        return None

    def send(self, request):
        """Send ``request`` (a SendRequest); return a BatchResult covering every recipient."""
        raise NotImplementedError

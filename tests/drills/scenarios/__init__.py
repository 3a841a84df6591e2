"""The drills, one module per family, each a function of a ``base.Bench``.

``catalogue`` lists them in run order with the names ``--list`` shows and ``--only``
takes; ``base`` holds the bench they run on and the checks they share. The modules:
``faults`` (a provider fails mid-run, the HTTP API account among them), ``http_api`` (the
HTTP API account in a mixed run, with its provider's delivery reports), ``ambiguity`` (no
usable answer after the request left), ``recipients`` (invalid numbers), ``last_resort``
(Odoo IAP at the end of every chain), ``workers`` (SIGKILL, two workers and one breaker), ``webhooks``, ``bookkeeping``
(the router's tables fail), ``outage`` (every provider down, the hold), ``neutralized``
(a neutralized copy of the database), ``slow_provider`` (Odoo in prefork with a low limit).
"""
import infra  # noqa: F401 - first: puts tests/ and tests/harness/ on sys.path

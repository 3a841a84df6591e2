#!/usr/bin/env python3
"""Segments: cost of measuring an SMS body (encoding and segments), against a bare ``len()``.

10,000 bodies generated with a fixed seed, in the proportions of a French-speaking
sender's traffic: OTP codes, appointment reminders (GSM-7 with é and à), reminders with a
curly apostrophe or a ``ç`` (UCS-2), marketing with ``€`` and a STOP suffix, long
multi-part bodies, emoji, Cyrillic and Arabic. The same bodies go through:

* ``len``: ``len(body)``, the least any counter does (what a naive "160 characters" uses);
* ``measure``: ``segments.measure(body, suffix)``;
* ``smart + measure``: ``smart_encoding.apply(body, 'letters')`` then ``measure``, what
  an account with smart encoding costs per SMS;
* ``cached``: the trail's per-(body, account) cache hit, a dictionary lookup.

Each figure is the best of ``--repeat`` runs over all bodies (garbage collector paused),
the contenders taking turns. Target: ``measure`` at most ``--target-us`` µs per SMS
(default 10 µs, under 1 % of the ~2 ms a routed SMS costs in the throughput benchmark);
the ratio to ``len()`` is printed for information (``len`` does no work at all).

    python3 tests/benchmarks/bench_segments.py [--bodies 10000] [--repeat 7]
"""
import argparse
import random
import sys

import benchlib

benchlib.mount_addons()

from addons.sms_router.engine import smart_encoding  # noqa: E402
from addons.sms_router.engine.segments import measure  # noqa: E402

SEED = 20261126
STOP = ' STOP au 36111'

TEMPLATES = (
    # (weight, template, suffix); {n} is replaced with digits, {name} with a first name
    (30, 'Votre code de vérification est {n}. Il expire dans 5 minutes.', ''),
    (20, 'Bonjour {name}, votre rendez-vous est confirmé le {n} à 14h30 au cabinet du Dr Martin, '
         '12 rue de la Paix. Répondez ANNULER pour annuler.', ''),
    (10, 'Bonjour {name}, n’oubliez pas votre rendez-vous du {n}. Reçu ? Répondez OUI.', ''),
    (10, '{name}, -20 % sur toute la boutique ce week-end avec le code PROMO{n} : dès 49 € '
         'd’achat, livraison offerte ! Voir conditions en magasin.', STOP),
    (10, 'Your order {n} has shipped. Track it at https://example.com/t/{n} [ref {n}]', ''),
    (5, 'Hello {name}! 🎉 Your reward {n} is waiting for you 😀', ''),
    (5, 'Ваш код подтверждения: {n}', ''),
    (5, 'رمز التحقق الخاص بك هو {n}', ''),
    (5, ('Cher {name}, ' + 'nous vous remercions de votre confiance et vous rappelons les conditions '
         'de votre contrat numéro {n}. ') * 4, ''),
)
NAMES = ('Élodie', 'Jean', 'Françoise', 'Zoë', 'Ana', 'Noël', 'Ömer', 'Chloé')


def make_bodies(total, seed=SEED):
    rng = random.Random(seed)
    weights = [w for w, _t, _s in TEMPLATES]
    items = []
    for _ in range(total):
        _w, template, suffix = rng.choices(TEMPLATES, weights)[0]
        body = template.replace('{n}', str(rng.randint(100000, 999999))).replace('{name}', rng.choice(NAMES))
        items.append((body, suffix))
    return items


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--bodies', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--target-us', type=float, default=10.0)
    args = parser.parse_args(argv)

    items = make_bodies(args.bodies)
    n = len(items)
    apply = smart_encoding.apply
    cache = {(body, 1): measure(body, suffix) for body, suffix in items}

    def bare():
        for body, _suffix in items:
            len(body)

    def measured():
        for body, suffix in items:
            measure(body, suffix)

    def smart():
        for body, suffix in items:
            measure(apply(body, smart_encoding.LETTERS), suffix)

    def cached():
        get = cache.get
        for body, _suffix in items:
            get((body, 1))

    best = benchlib.interleaved_best(
        {'len': bare, 'measure': measured, 'smart': smart, 'cached': cached}, args.repeat)
    infos = [measure(body, suffix) for body, suffix in items]
    ucs2 = sum(1 for info in infos if info.encoding == 'ucs2')
    segments = sum(info.segments for info in infos)
    smart_infos = [measure(apply(body, smart_encoding.LETTERS), suffix) for body, suffix in items]
    smart_segments = sum(info.segments for info in smart_infos)
    smart_ucs2 = sum(1 for info in smart_infos if info.encoding == 'ucs2')

    base = best['len']
    rows = []
    for name, label in (('len', 'len(body)'), ('measure', 'measure(body, suffix)'),
                        ('smart', "apply(body, 'letters') + measure"),
                        ('cached', 'cache hit (dict lookup)')):
        seconds = best[name]
        rows.append((label, f'{n / seconds:,.0f}', f'{seconds / n * 1e6:.2f}', f'{seconds / base:.1f}x'))

    print(f'Segments benchmark: {n:,} bodies ({ucs2:,} UCS-2, {segments:,} segments; with smart '
          f'encoding "letters": {smart_ucs2:,} UCS-2, {smart_segments:,} segments); '
          f'best of {args.repeat} interleaved runs')
    print(benchlib.machine_line())
    print()
    print(benchlib.table(('Operation', 'Bodies/s', 'µs each', 'vs len()'), rows))
    print()
    verdicts = benchlib.Verdicts()
    per_sms = best['measure'] / n * 1e6
    verdicts.check(per_sms <= args.target_us, f'measure ≤ {args.target_us:g} µs per SMS', f'{per_sms:.2f} µs')
    per_smart = best['smart'] / n * 1e6
    verdicts.check(per_smart <= 2 * args.target_us, f'smart encoding + measure ≤ {2 * args.target_us:g} µs per SMS',
                   f'{per_smart:.2f} µs')
    verdicts.note('measure vs len()', f'{best["measure"] / base:.1f}x')
    print(verdicts.render())
    return 0


if __name__ == '__main__':
    sys.exit(main())

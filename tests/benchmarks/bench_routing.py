#!/usr/bin/env python3
"""Routing: decisions per second, against a bare ``phonenumbers`` parse and validity check.

10,000 mobile numbers of 30 regions are generated from phonenumbers' example numbers with
seeded random subscriber digits (every one valid), half in E.164 form and half in the
national form of their region (read with that region as the default, as Odoo does with
the recipient's country). The same (text, default region) pairs go through:

* ``bare``: ``phonenumbers.parse`` + ``phonenumbers.is_valid_number``, the least any
  router must do;
* ``resolve``: ``RoutingTable.resolve`` (parse, validate, E.164 form, region, route), on
  tables of 1, 100 and 1,000 routes mixing countries, prefixes and traffic types.

Each figure is the best of ``--repeat`` runs over all numbers (garbage collector paused),
the contenders taking turns so that a busy spell of the machine hits them alike.
Targets: ``resolve`` costs at most 1.5x ``bare`` and does not grow with the route count
(1,000 routes against 100 routes of the same mix; the 1-route table, a lone default route,
skips the prefix walk and is shown for information).
``--profile`` prints where ``resolve`` spends its time (cProfile) instead.

    python3 tests/benchmarks/bench_routing.py [--numbers 10000] [--repeat 7] [--profile]
"""
import argparse
import random
import sys

import phonenumbers

import benchlib

benchlib.mount_addons()

from addons.sms_router.engine.routing import (  # noqa: E402
    TRAFFIC_ALL,
    TRAFFIC_MARKETING,
    TRAFFIC_TRANSACTIONAL,
    Route,
    RoutingTable,
    parse_destination,
)

# 30 regions, including calling codes shared by several regions (+1 US/CA, +7 RU/KZ,
# +44 GB/JE, +262 RE), where phonenumbers must work out the region from the digits.
REGIONS = ('FR', 'GB', 'DE', 'ES', 'IT', 'BE', 'NL', 'CH', 'PT', 'IE', 'SE', 'PL', 'RU', 'KZ',
           'US', 'CA', 'BR', 'MX', 'AR', 'IN', 'CN', 'JP', 'AU', 'NZ', 'ZA', 'NG', 'MA', 'RE',
           'GP', 'JE')
SEED = 20260519
RATIO_TARGET = 1.5
GROWTH_TOLERANCE = 1.10     # 1,000 routes may cost at most 10 % more than 100 (noise)


def region_numbers(region, rng, count):
    """``count`` distinct valid mobile numbers of ``region`` (PhoneNumber objects)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    nsn = phonenumbers.national_significant_number(example)
    found = {}
    tries = 0
    while len(found) < count and tries < count * 50:
        tries += 1
        keep = len(nsn) - min(5, len(nsn) - 3)
        digits = nsn[:keep] + ''.join(rng.choice('0123456789') for _ in nsn[keep:])
        try:
            number = phonenumbers.parse('+%d%s' % (example.country_code, digits))
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) \
                and phonenumbers.region_code_for_number(number) == region:
            found[digits] = number
    if not found:
        raise SystemExit(f'no valid number could be made for {region}')
    return list(found.values())


def make_numbers(total, seed=SEED):
    """[(text, default_region, traffic)] in a seeded order: half E.164, half national."""
    rng = random.Random(seed)
    pools = {region: region_numbers(region, rng, total // len(REGIONS) + 1) for region in REGIONS}
    items = []
    for index in range(total):
        region = REGIONS[index % len(REGIONS)]
        number = rng.choice(pools[region])
        if index % 2:
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        else:
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        traffic = TRAFFIC_MARKETING if rng.random() < 0.5 else TRAFFIC_TRANSACTIONAL
        items.append((text, region, traffic))
    rng.shuffle(items)
    return items


def make_table(size, items, seed=SEED):
    """A RoutingTable of ``size`` routes: countries, prefixes of real numbers, random
    prefixes, traffic-specific variants and a default route."""
    rng = random.Random(seed + size)
    if size == 1:
        return RoutingTable([Route('default', chain=(1,), name='default')])
    e164s = [parse_destination(text, region).e164 for text, region, _t in items[:2000]]
    routes = []
    for region in REGIONS:
        if len(routes) >= size // 3:
            break
        routes.append(Route(f'country-{region}', chain=(1, 2), countries=(region,)))
        if len(routes) < size // 3:
            routes.append(Route(f'country-{region}-mkt', chain=(2, 1), countries=(region,),
                                traffic=TRAFFIC_MARKETING))
    while len(routes) < size - 1:
        traffic = rng.choice((TRAFFIC_ALL, TRAFFIC_ALL, TRAFFIC_TRANSACTIONAL, TRAFFIC_MARKETING))
        if rng.random() < 0.6:
            digits = rng.choice(e164s)[1:]
            prefix = '+' + digits[:rng.randint(2, min(9, len(digits)))]
        else:
            prefix = '+9' + ''.join(rng.choice('0123456789') for _ in range(rng.randint(2, 7)))
        routes.append(Route(f'prefix-{len(routes)}', chain=(3,), prefixes=(prefix,),
                            traffic=traffic))
    routes.append(Route('default', chain=(1,)))
    return RoutingTable(routes)


def bare_loop(items):
    parse, is_valid = phonenumbers.parse, phonenumbers.is_valid_number

    def run():
        for text, region, _traffic in items:
            is_valid(parse(text, region))
    return run


def resolve_loop(table, items):
    resolve = table.resolve

    def run():
        for text, region, traffic in items:
            resolve(text, region, traffic)
    return run


def lookup_loop(table, destinations):
    route_for = table.route_for

    def run():
        for destination, traffic in destinations:
            route_for(destination, traffic)
    return run


def profile(items, table):
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    profiler.runcall(resolve_loop(table, items))
    pstats.Stats(profiler).sort_stats('tottime').print_stats(25)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--numbers', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--profile', action='store_true', help='profile resolve on 1,000 routes')
    args = parser.parse_args(argv)

    items = make_numbers(args.numbers)
    tables = {size: make_table(size, items) for size in (1, 100, 1000)}
    if args.profile:
        profile(items, tables[1000])
        return 0

    # Warm-up (phonenumbers loads region metadata lazily) and sanity: every number resolves.
    routed = {}
    for size, table in tables.items():
        routed[size] = sum(1 for text, region, traffic in items
                           if table.resolve(text, region, traffic)[1] is not None)
    bare_loop(items)()
    destinations = [(parse_destination(text, region), traffic) for text, region, traffic in items]

    n = len(items)
    functions = {'bare': bare_loop(items)}
    for size, table in tables.items():
        functions[('resolve', size)] = resolve_loop(table, items)
        functions[('lookup', size)] = lookup_loop(table, destinations)
    best = benchlib.interleaved_best(functions, args.repeat)
    bare = best['bare']
    rows = [('bare parse + is_valid_number', '-', f'{n / bare:,.0f}', f'{bare / n * 1e6:.2f}',
             '1.00x', '-', '-')]
    results = {}
    for size, table in tables.items():
        resolve, lookup = best[('resolve', size)], best[('lookup', size)]
        results[size] = (resolve, lookup)
        rows.append((f'RoutingTable.resolve, {size:,} route{"s" if size > 1 else ""}',
                     f'{len(table.routes):,}', f'{n / resolve:,.0f}', f'{resolve / n * 1e6:.2f}',
                     f'{resolve / bare:.2f}x', f'{lookup / n * 1e6:.2f}', f'{routed[size]:,}'))

    print(f'Routing benchmark: {n:,} numbers, {len(REGIONS)} regions, half E.164 / half national; '
          f'best of {args.repeat} interleaved runs')
    print(benchlib.machine_line() + f', phonenumbers {phonenumbers.__version__}')
    print()
    print(benchlib.table(
        ('Decision', 'Routes', 'Decisions/s', 'µs each', 'vs bare', 'route_for µs', 'Routed'),
        rows))
    print()

    verdicts = benchlib.Verdicts()
    for size, (resolve, _lookup) in results.items():
        plural = 's' if size > 1 else ''
        verdicts.check(resolve / bare <= RATIO_TARGET,
                       f'resolve ≤ {RATIO_TARGET}x bare ({size:,} route{plural})',
                       f'{resolve / bare:.2f}x')
    # Same kind of table, ten times the routes: the cost must not move (noise aside).
    growth = results[1000][0] / results[100][0]
    verdicts.check(growth <= GROWTH_TOLERANCE,
                   f'no growth with routes (1,000 vs 100 routes ≤ {GROWTH_TOLERANCE:.2f}x)',
                   f'{growth:.2f}x')
    # The 1-route table is a lone default route: no prefix to walk at all.
    verdicts.note('resolve, 1,000 routes vs 1 route (default route only, no prefix walk)',
                  f'{results[1000][0] / results[1][0]:.2f}x')
    # route_for alone walks at most one dictionary probe per digit of the number.
    verdicts.note('route_for alone, 1,000 vs 100 routes',
                  f'{results[1000][1] / results[100][1]:.2f}x')
    print(verdicts.render())
    return 0


if __name__ == '__main__':
    sys.exit(main())

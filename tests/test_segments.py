"""Segments and encoding: a corpus whose expected values come from the standard, not the code.

The alphabet is transcribed here a second time, from 3GPP TS 23.038 6.2.1 by Unicode
character *name* and code position (the engine writes it as a string), and expected segment
counts are worked out either by arithmetic on the standard's numbers (160/153 septets,
70/67 UTF-16 units, extension characters 2 septets, astral characters 2 units) or by
``standard_segments``, a plain greedy packing of characters into parts that never splits a
two-unit character, written independently of the engine's.
"""
import unicodedata

import pytest

from addons.sms_router.engine.segments import GSM7, UCS2, describe_chars, measure

# --- TS 23.038 6.2.1: default alphabet. 0x20-0x7F are ASCII except the positions below. ---
_NAMED = {
    0x00: 'COMMERCIAL AT', 0x01: 'POUND SIGN', 0x02: 'DOLLAR SIGN', 0x03: 'YEN SIGN',
    0x04: 'LATIN SMALL LETTER E WITH GRAVE', 0x05: 'LATIN SMALL LETTER E WITH ACUTE',
    0x06: 'LATIN SMALL LETTER U WITH GRAVE', 0x07: 'LATIN SMALL LETTER I WITH GRAVE',
    0x08: 'LATIN SMALL LETTER O WITH GRAVE', 0x09: 'LATIN CAPITAL LETTER C WITH CEDILLA',
    0x0A: 'LINE FEED (LF)', 0x0B: 'LATIN CAPITAL LETTER O WITH STROKE',
    0x0C: 'LATIN SMALL LETTER O WITH STROKE', 0x0D: 'CARRIAGE RETURN (CR)',
    0x0E: 'LATIN CAPITAL LETTER A WITH RING ABOVE', 0x0F: 'LATIN SMALL LETTER A WITH RING ABOVE',
    0x10: 'GREEK CAPITAL LETTER DELTA', 0x11: 'LOW LINE', 0x12: 'GREEK CAPITAL LETTER PHI',
    0x13: 'GREEK CAPITAL LETTER GAMMA', 0x14: 'GREEK CAPITAL LETTER LAMDA',
    0x15: 'GREEK CAPITAL LETTER OMEGA', 0x16: 'GREEK CAPITAL LETTER PI',
    0x17: 'GREEK CAPITAL LETTER PSI', 0x18: 'GREEK CAPITAL LETTER SIGMA',
    0x19: 'GREEK CAPITAL LETTER THETA', 0x1A: 'GREEK CAPITAL LETTER XI',
    # 0x1B: escape to the extension table, not a character
    0x1C: 'LATIN CAPITAL LETTER AE', 0x1D: 'LATIN SMALL LETTER AE',
    0x1E: 'LATIN SMALL LETTER SHARP S', 0x1F: 'LATIN CAPITAL LETTER E WITH ACUTE',
    0x24: 'CURRENCY SIGN', 0x40: 'INVERTED EXCLAMATION MARK',
    0x5B: 'LATIN CAPITAL LETTER A WITH DIAERESIS', 0x5C: 'LATIN CAPITAL LETTER O WITH DIAERESIS',
    0x5D: 'LATIN CAPITAL LETTER N WITH TILDE', 0x5E: 'LATIN CAPITAL LETTER U WITH DIAERESIS',
    0x5F: 'SECTION SIGN', 0x60: 'INVERTED QUESTION MARK',
    0x7B: 'LATIN SMALL LETTER A WITH DIAERESIS', 0x7C: 'LATIN SMALL LETTER O WITH DIAERESIS',
    0x7D: 'LATIN SMALL LETTER N WITH TILDE', 0x7E: 'LATIN SMALL LETTER U WITH DIAERESIS',
    0x7F: 'LATIN SMALL LETTER A WITH GRAVE',
}
_CONTROL = {'LINE FEED (LF)': '\n', 'CARRIAGE RETURN (CR)': '\r'}


def _char(code):
    if code in _NAMED:
        name = _NAMED[code]
        return _CONTROL.get(name) or unicodedata.lookup(name)
    return chr(code)


DEFAULT_ALPHABET = {code: _char(code) for code in range(128) if code != 0x1B}
# TS 23.038 6.2.1.1: extension table, ESC + code -> two septets.
EXTENSION = {
    0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
    0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: unicodedata.lookup('EURO SIGN'),
}
BASIC = ''.join(DEFAULT_ALPHABET.values())
EXT = ''.join(EXTENSION.values())

SINGLE_GSM, PART_GSM, SINGLE_UCS2, PART_UCS2 = 160, 153, 70, 67


def standard_segments(text):
    """(encoding, units, segments) by the standard's rules, packing character by character."""
    if not text:
        return GSM7, 0, 0
    if all(c in BASIC or c in EXT for c in text):
        encoding, costs, single, part = GSM7, [2 if c in EXT else 1 for c in text], SINGLE_GSM, PART_GSM
    else:
        encoding, costs, single, part = UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text], SINGLE_UCS2, PART_UCS2
    units = sum(costs)
    if units <= single:
        return encoding, units, 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:      # a two-unit character never straddles two parts
            parts, used = parts + 1, 0
        used += cost
    return encoding, units, parts


def ceil_div(a, b):
    return -(-a // b)


def plain_segments(units, single, part):
    """Segments when every character costs one unit: the standard's numbers alone."""
    if units == 0:
        return 0
    return 1 if units <= single else ceil_div(units, part)


# --------------------------------------------------------------------------------------------
# The corpus: (id, body, suffix, encoding, units, segments, ucs2_chars or None to not check)
CASES = []


def case(cid, body, encoding, units, segments, ucs2=None, suffix=''):
    CASES.append(pytest.param(body, suffix, encoding, units, segments, ucs2, id=cid))


# every default-alphabet character: alone, filling one SMS, one over
for code, char in DEFAULT_ALPHABET.items():
    case(f'basic-{code:02x}-x1', char, GSM7, 1, 1, ())
    case(f'basic-{code:02x}-x160', char * 160, GSM7, 160, 1, ())
    case(f'basic-{code:02x}-x161', 'a' * 160 + char, GSM7, 161, 2, ())

# every extension character: alone, 80 (160 septets), 81 (162 septets: 76 per part -> 2),
# after 152 basic characters (would straddle), after 151 (fits exactly), in a sentence
for code, char in EXTENSION.items():
    case(f'ext-{code:02x}-x1', char, GSM7, 2, 1, ())
    case(f'ext-{code:02x}-x80', char * 80, GSM7, 160, 1, ())
    case(f'ext-{code:02x}-x81', char * 81, GSM7, 162, ceil_div(81, PART_GSM // 2))
    case(f'ext-{code:02x}-x77', char * 77, GSM7, 154, 1)
    # 152 + pair + 152: the pair moves to part 2 (152 | 2+151 | 1) -> 3, although 306 <= 2x153
    case(f'ext-{code:02x}-straddle', 'a' * 152 + char + 'b' * 152, GSM7, 306, 3, ())
    # 151 + pair + 153: part 1 ends exactly on the pair (153 | 153) -> 2
    case(f'ext-{code:02x}-fits', 'a' * 151 + char + 'b' * 153, GSM7, 306, 2, ())
    case(f'ext-{code:02x}-sentence', f'Price {char} 10', GSM7, 11, 1, ())

# n basic + m extension characters: septets n + 2m, segments by the 160/153 rule (the pairs
# sit at the end, each part after the first counting 153 septets; the pair packing is what
# standard_segments works out)
for n in (0, 1, 100, 150, 151, 152, 153, 158, 159, 160, 305, 306, 459):
    for m in (0, 1, 2, 3, 5):
        if n + m == 0:
            continue
        body = 'x' * n + '€' * m
        septets = n + 2 * m
        expected = standard_segments(body)[2]
        if m == 0:
            assert expected == plain_segments(septets, SINGLE_GSM, PART_GSM)
        case(f'mix-gsm-{n}+{m}ext', body, GSM7, septets, expected, ())

# GSM-7 boundaries: 160 and multiples of 153, +-1
for k in range(1, 11):
    for delta in (-1, 0, 1):
        n = PART_GSM * k + delta
        if k == 1:
            continue
        case(f'gsm-153x{k}{delta:+d}', 'A' * n, GSM7, n, plain_segments(n, SINGLE_GSM, PART_GSM), ())
for n in (159, 160, 161, 1530, 1531):
    case(f'gsm-len-{n}', 'z' * n, GSM7, n, plain_segments(n, SINGLE_GSM, PART_GSM), ())

# UCS-2 boundaries: 70 and multiples of 67, +-1 (one 'ç' makes the body UCS-2)
for k in range(1, 11):
    for delta in (-1, 0, 1):
        n = PART_UCS2 * k + delta
        body = 'ç' + 'a' * (n - 1)
        case(f'ucs2-67x{k}{delta:+d}', body, UCS2, n, plain_segments(n, SINGLE_UCS2, PART_UCS2), ('ç',))
for n in (69, 70, 71):
    case(f'ucs2-len-{n}', 'ê' * n, UCS2, n, plain_segments(n, SINGLE_UCS2, PART_UCS2), ('ê',))

# emoji and other astral characters: two UTF-16 units each
ASTRAL = {
    'grinning': '\U0001F600', 'thumbs': '\U0001F44D', 'rocket': '\U0001F680',
    'cjk-ext-b': '\U00020000', 'math-script-a': '\U0001D49C', 'gothic': '\U00010330',
    'mahjong': '\U0001F004', 'hieroglyph': '\U00013000',
}
for name, char in ASTRAL.items():
    case(f'astral-{name}-x1', char, UCS2, 2, 1, (char,))
    case(f'astral-{name}-x35', char * 35, UCS2, 70, 1, (char,))
    case(f'astral-{name}-x36', char * 36, UCS2, 72, ceil_div(36, PART_UCS2 // 2), (char,))
    # 66 units then a pair: it moves to part 2 (66 | 2+65 | 2) -> 3, although 134 <= 2x67
    case(f'astral-{name}-straddle', 'ç' * 66 + char + 'é' * 66, UCS2, 134, 3, ('ç', char))
    case(f'astral-{name}-fits', 'ç' * 65 + char + 'é' * 67, UCS2, 134, 2, ('ç', char))
    case(f'astral-{name}-in-gsm-text', 'Bonjour ' + char, UCS2, 10, 1, (char,))
# a flag is two regional indicators (4 units); a family emoji joins 3 astral + 2 ZWJ (8 units)
case('flag-fr', '\U0001F1EB\U0001F1F7', UCS2, 4, 1)
case('family-zwj', '\U0001F468\u200D\U0001F469\u200D\U0001F467', UCS2, 8, 1)
case('emoji-variation', '\u2764\uFE0F', UCS2, 2, 1, ('\u2764', '\uFE0F'))

# mixed scripts: the ten Greek capitals of the default alphabet stay GSM-7, the others do not
GSM_GREEK = 'ΔΦΓΛΩΠΨΣΘΞ'
case('greek-gsm-capitals', GSM_GREEK, GSM7, 10, 1, ())
case('greek-gsm-capitals-x16', GSM_GREEK * 16, GSM7, 160, 1, ())
case('greek-gsm-capitals-x17', GSM_GREEK * 17, GSM7, 170, 2, ())
for char in 'ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβγδεζηθικλμνξοπρστυφχψωάέ':
    case(f'greek-not-gsm-U{ord(char):04X}', 'ΔΣ ' + char, UCS2, 4, 1, (char,))
SCRIPTS = {
    'cyrillic': 'Привет, мир! Ваш код: 1234',
    'arabic': 'مرحبا بالعالم، رمزك 1234',
    'hebrew': 'שלום עולם 1234',
    'cjk': '您好世界，您的验证码是1234',
    'japanese': 'こんにちは世界 1234',
    'korean': '안녕하세요 1234',
    'thai': 'สวัสดีชาวโลก 1234',
    'devanagari': 'नमस्ते दुनिया 1234',
    'turkish': 'Doğrulama kodunuz 1234 ş ı',
    'polish': 'Zażółć gęślą jaźń',
    'vietnamese': 'Xin chào thế giới',
}
for name, text in SCRIPTS.items():
    for reps in (1, 3, 5, 10):
        body = (text + ' ') * reps
        units = len(body)     # all these scripts are in the Basic Multilingual Plane
        case(f'script-{name}-x{reps}', body, UCS2, units, plain_segments(units, SINGLE_UCS2, PART_UCS2))

# characters that look GSM but are not (each forces UCS-2 on its own)
LOOKALIKES = {
    'nbsp': '\u00a0', 'narrow-nbsp': '\u202f', 'backtick': '`', 'curly-apostrophe': '\u2019',
    'left-quote': '\u201c', 'guillemet': '\u00ab', 'en-dash': '\u2013', 'em-dash': '\u2014',
    'ellipsis': '\u2026', 'degree': '\u00b0', 'c-cedilla': '\u00e7', 'e-circumflex': '\u00ea',
    'oe': '\u0153', 'tab': '\t', 'cent': '\u00a2', 'bullet': '\u2022', 'trademark': '\u2122',
    'c-cedilla-decomposed': 'c\u0327', 'nul': '\x00', 'escape': '\x1b', 'soft-hyphen': '\u00ad',
}
for name, char in LOOKALIKES.items():
    body = 'Rendez-vous demain' + char
    case(f'lookalike-{name}', body, UCS2, len(body), 1, tuple(dict.fromkeys(c for c in body if c not in BASIC + EXT)))
    body = 'x' * (70 - len(char)) + char
    case(f'lookalike-{name}-70', body, UCS2, 70, 1)
    body = 'x' * (71 - len(char)) + char
    case(f'lookalike-{name}-71', body, UCS2, 71, 2)

# the suffix a provider appends counts with the body
STOP = 'STOP au 36111'
for n in (0, 1, 146, 147, 148, 160, 290, 293, 294):
    body = 'r' * n
    units = n + 1 + len(STOP)
    case(f'suffix-gsm-{n}', body, GSM7, units, plain_segments(units, SINGLE_GSM, PART_GSM), (), suffix=' ' + STOP)
for n in (56, 57, 58):
    body = 'ç' * n
    units = n + 1 + len(STOP)
    case(f'suffix-ucs2-{n}', body, UCS2, units, plain_segments(units, SINGLE_UCS2, PART_UCS2), ('ç',),
         suffix=' ' + STOP)
case('suffix-forces-ucs2', 'a' * 60, UCS2, 62, 1, ('ç',), suffix=' ç')
case('suffix-extension', 'a' * 159, GSM7, 161, 2, (), suffix='€')

# --- hand-written table: concrete messages, values worked out by hand ---
REMINDER = ('Bonjour, votre rendez-vous est confirmé le mardi 3 mars à 14h30 au cabinet du '
            'Dr Martin, 12 rue de la Paix. Répondez ANNULER pour annuler. Merci ! Bonne journée')
assert len(REMINDER) == 160
HAND = [
    # id, body, encoding, units, segments
    ('hello', 'Hello', GSM7, 5, 1),
    ('otp', 'Your code is 123456', GSM7, 19, 1),
    # 160 characters, é and à are GSM-7: 1 SMS
    ('fr-reminder', REMINDER, GSM7, 160, 1),
    # 'Merci' -> 'Reçu': one ç makes it UCS-2, 159 units -> 67 + 67 + 25 = 3 SMS
    ('fr-reminder-c-cedilla', REMINDER.replace('Merci', 'Reçu'), UCS2, 159, 3),
    # "Total : 10 €": 11 characters, € is 2 septets -> 13
    ('euro', 'Total : 10 €', GSM7, 13, 1),
    ('braces', '{code}', GSM7, 8, 1),
    ('pipe-tilde', 'a|b~c', GSM7, 7, 1),
    ('backslash-path', 'C:\\Temp\\x', GSM7, 11, 1),
    ('caret-brackets', '2^10 [ok]', GSM7, 12, 1),
    ('form-feed', 'a\fb', GSM7, 4, 1),
    ('crlf', 'line1\r\nline2', GSM7, 12, 1),
    ('emoji-one', 'Merci \U0001F600', UCS2, 8, 1),
    ('euro-and-emoji', '10 € \U0001F600', UCS2, 7, 1),
    ('german', 'Grüße aus Köln', GSM7, 14, 1),
    ('spanish', '¿Qué tal? ¡Olé!', GSM7, 15, 1),     # ¿ ¡ é are in the default alphabet
    ('spanish-acute-a', 'Mañana está', UCS2, 11, 1),
    ('scandinavian', 'Åse og Øystein, Ærø', GSM7, 19, 1),
    ('currencies', '£5 $5 ¥5 ¤5', GSM7, 11, 1),
    ('french-e-circ', 'Prêt', UCS2, 4, 1),
    ('capital-c-cedilla', 'Ça va', GSM7, 5, 1),
    ('small-c-cedilla', 'ça va', UCS2, 5, 1),
    ('capital-e-acute', 'École', GSM7, 5, 1),
    ('capital-e-grave', 'È', UCS2, 1, 1),
    ('at-underscore', 'a_b@c.fr', GSM7, 8, 1),
    ('80-euros', '€' * 80, GSM7, 160, 1),
    ('153-a-then-euro', 'a' * 153 + '€', GSM7, 155, 1),     # 155 <= 160: one SMS
    ('159-a-then-euro', 'a' * 159 + '€', GSM7, 161, 2),     # 153 | 6 + 2
    ('all-extension', EXT, GSM7, 20, 1),
    ('empty', '', GSM7, 0, 0),
]
for cid, body, encoding, units, segments in HAND:
    case(f'hand-{cid}', body, encoding, units, segments)


def test_corpus_size():
    assert len(CASES) >= 500, len(CASES)


def test_alphabet_transcription():
    """The standard's table has 127 characters plus the escape, 10 extension characters."""
    assert len(DEFAULT_ALPHABET) == 127
    assert len(set(BASIC)) == 127
    assert len(EXTENSION) == 10
    assert not set(BASIC) & set(EXT)
    for char in '@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r ':
        assert char in BASIC, char


@pytest.mark.parametrize(('body', 'suffix', 'encoding', 'units', 'segments', 'ucs2'), CASES)
def test_corpus(body, suffix, encoding, units, segments, ucs2):
    info = measure(body, suffix)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    # the packing reference agrees with the arithmetic of every construction
    assert standard_segments(body + suffix) == (encoding, units, segments)
    if ucs2 is not None:
        assert info.ucs2_chars == ucs2
    if encoding == GSM7:
        assert info.ucs2_chars == ()
    else:
        assert info.ucs2_chars
        assert all(c not in BASIC and c not in EXT for c in info.ucs2_chars)


def test_random_bodies_agree_with_packing():
    """Random bodies around the part boundaries, mixing one- and two-unit characters."""
    import random
    rng = random.Random(2026)
    gsm_pool = 'abc€[^' + GSM_GREEK
    ucs_pool = 'abç\U0001F600ж'
    for _ in range(2000):
        pool = gsm_pool if rng.random() < 0.5 else ucs_pool
        body = ''.join(rng.choice(pool) for _ in range(rng.randint(0, 400)))
        info = measure(body)
        assert (info.encoding, info.units, info.segments) == standard_segments(body)


def test_empty_and_suffix_only():
    assert measure('') == (GSM7, 0, 0, ())
    assert measure('', ' STOP') == (GSM7, 5, 1, ())


def test_describe_chars():
    assert describe_chars(()) == ''
    assert describe_chars(('ç', '\u2019', '\U0001F600')) == 'ç \u2019 \U0001F600'
    # spaces, invisible and combining characters by code point
    assert describe_chars(('\u00a0', '\u202f', '\u200b', '\u0327', '\t', '\x1b')) == \
        'U+00A0 U+202F U+200B U+0327 U+0009 U+001B'

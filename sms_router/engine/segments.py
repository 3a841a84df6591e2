"""How many segments an SMS costs, and in which encoding (3GPP TS 23.038 / TS 23.040).

Providers bill and throttle per segment, not per character. A body goes out in the GSM 7-bit
default alphabet when every character is in it (the default table, or its extension table
reached through an escape septet), in UCS-2 otherwise:

* GSM-7: one septet per character of the default table, two (ESC 0x1B + code) per character
  of the extension table (``\\f ^ { } \\ [ ~ ] | €``). One SMS carries 160 septets (140 octets);
  a concatenated part carries 153, its 6-octet concatenation header (UDH) taking the rest.
* UCS-2: one UTF-16 code unit per character, two for a character outside the Basic
  Multilingual Plane (most emoji), as UTF-16 gateways and handsets encode them. One SMS
  carries 70 units, a concatenated part 67.

An escape pair or a surrogate pair is never split across two parts: TS 23.038 makes the
pair one character (a receiver reading a lone ESC or a lone surrogate at the end of a part
shows a wrong character), so senders end the part one unit early and start the next part
with the whole pair (Android's ``GsmAlphabet.findGsmSeptetLimitIndex``, Twilio's segment
calculator and SMPP gateways do the same). The part then holds 152 septets (66 units).

National language shift tables (TS 23.038 6.2.1.2.4: Turkish, Spanish, Portuguese, Indian
scripts) are not used: most providers do not offer them, and a body counted with them
would be billed differently from what they send. Characters Unicode maps onto GSM look-alikes
(NBSP, curly quotes, Greek capitals shaped like Latin ones...) are not GSM-7 here: the
provider receives them as they are; ``smart_encoding`` replaces them explicitly when an
account asks for it.

Nothing here imports Odoo.
"""
import re
import unicodedata
from collections import namedtuple

GSM7 = 'gsm7'
UCS2 = 'ucs2'

SINGLE_SEPTETS = 160
PART_SEPTETS = 153
SINGLE_UNITS = 70
PART_UNITS = 67

# TS 23.038 6.2.1, the GSM 7-bit default alphabet, in code order (0x00-0x7F). 0x1B is the
# escape to the extension table, not a character: it is left out (NBSP, which some tables
# show there, is not GSM-7).
GSM7_BASIC = (
    '@£$¥èéùìòÇ\nØø\rÅå'        # 0x00-0x0F
    'Δ_ΦΓΛΩΠΨΣΘΞ' 'ÆæßÉ'        # 0x10-0x1F (0x1B escape left out)
    ' !"#¤%&\'()*+,-./'          # 0x20-0x2F
    '0123456789:;<=>?'           # 0x30-0x3F
    '¡ABCDEFGHIJKLMNO'           # 0x40-0x4F
    'PQRSTUVWXYZÄÖÑÜ§'           # 0x50-0x5F
    '¿abcdefghijklmno'           # 0x60-0x6F
    'pqrstuvwxyzäöñüà'           # 0x70-0x7F
)
# TS 23.038 6.2.1.1, the extension table characters (ESC + 0x0A, 0x14, 0x28, 0x29, 0x2F,
# 0x3C, 0x3D, 0x3E, 0x40, 0x65): two septets each.
GSM7_EXTENSION = '\f^{}\\[~]|€'

GSM7_BASIC_SET = frozenset(GSM7_BASIC)
GSM7_EXTENSION_SET = frozenset(GSM7_EXTENSION)

_NOT_GSM7 = re.compile('[^%s]' % re.escape(GSM7_BASIC + GSM7_EXTENSION))
_EXTENSION = re.compile('[%s]' % re.escape(GSM7_EXTENSION))
_ASTRAL = re.compile('[\U00010000-\U0010FFFF]')

SegmentInfo = namedtuple('SegmentInfo', ('encoding', 'units', 'segments', 'ucs2_chars'))
SegmentInfo.__doc__ = """Encoding and size of one SMS body.

``encoding``: ``'gsm7'`` or ``'ucs2'``; ``units``: septets (GSM-7) or UTF-16 code units
(UCS-2); ``segments``: SMS parts billed (0 for an empty body); ``ucs2_chars``: the distinct
characters that force UCS-2, in order of first appearance (empty for GSM-7)."""

EMPTY = SegmentInfo(GSM7, 0, 0, ())


def _split(text, units, single, part, wide):
    """Parts needed for ``text`` of ``units`` units where the characters matched by the
    pattern ``wide`` cost two units and may not straddle a part boundary."""
    if units <= single:
        return 1
    if units == len(text):          # no two-unit character: nothing can straddle
        return -(-units // part)
    parts, used, start = 1, 0, 0
    for match in wide.finditer(text):
        index = match.start()
        # one-unit characters since the last wide one fill parts without constraint
        used += index - start
        parts += used // part
        used %= part
        if used == part - 1:        # the pair would straddle: this part ends one short
            parts += 1
            used = 0
        used += 2
        if used == part:
            parts += 1
            used = 0
        start = index + 1
    used += len(text) - start
    parts += used // part
    used %= part
    if used == 0:                   # the last part ended exactly full
        parts -= 1
    return parts


def measure(body, suffix=''):
    """Encoding, units and segments of ``body`` followed by ``suffix`` (the text a provider
    appends, e.g. a STOP mention), as a :class:`SegmentInfo`."""
    text = body + suffix if suffix else body
    if not text:
        return EMPTY
    if _NOT_GSM7.search(text) is None:
        extension = len(_EXTENSION.findall(text))
        units = len(text) + extension
        return SegmentInfo(GSM7, units, _split(text, units, SINGLE_SEPTETS, PART_SEPTETS, _EXTENSION), ())
    units = len(text.encode('utf-16-le', 'surrogatepass')) // 2
    forcing = tuple(dict.fromkeys(_NOT_GSM7.findall(text)))
    return SegmentInfo(UCS2, units, _split(text, units, SINGLE_UNITS, PART_UNITS, _ASTRAL), forcing)


def segment_cost(body, suffix=''):
    """Segments of ``body`` + ``suffix``, at least 1 (what a provider bills for a request)."""
    return max(1, measure(body, suffix).segments)


def describe_chars(chars):
    """``chars`` (e.g. ``SegmentInfo.ucs2_chars``) for people, separated by spaces: visible
    characters as they are, spaces, invisible and combining characters by code point
    (``U+00A0``), which nobody could see otherwise."""
    return ' '.join(
        char if char.isprintable() and not char.isspace() and unicodedata.category(char)[0] != 'M'
        else f'U+{ord(char):04X}'
        for char in chars)

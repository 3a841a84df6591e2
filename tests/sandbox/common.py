"""What every emulated provider uses: phone numbers, SMS parts, message lifecycle, time
stamps and constant-time comparison of secrets."""
import hmac
import math
import re
from datetime import datetime, timezone

# Region -> country calling code, enough for national numbers sent with a region.
CALLING_CODES = {
    'FR': '33', 'BE': '32', 'CH': '41', 'LU': '352', 'MC': '377', 'DE': '49', 'AT': '43',
    'NL': '31', 'GB': '44', 'IE': '353', 'ES': '34', 'PT': '351', 'IT': '39', 'DK': '45',
    'SE': '46', 'NO': '47', 'FI': '358', 'PL': '48', 'CZ': '420', 'GR': '30', 'RO': '40',
    'HU': '36', 'US': '1', 'CA': '1', 'MA': '212', 'DZ': '213', 'TN': '216', 'SN': '221',
    'CI': '225', 'RE': '262', 'YT': '262', 'GP': '590', 'MQ': '596', 'GF': '594',
    'PM': '508', 'NC': '687', 'PF': '689', 'IN': '91', 'AU': '61', 'NZ': '64', 'JP': '81',
    'CN': '86', 'BR': '55', 'MX': '52', 'AR': '54', 'ZA': '27',
}
_SEPARATORS = re.compile(r'[\s\-.()/]')
# Calling code -> the region a number of that code is billed as (the first region listed
# for a shared code: +1 is billed as US, +262 as RE).
_REGION_OF_CODE = {}
for _region, _code in CALLING_CODES.items():
    _REGION_OF_CODE.setdefault(_code, _region)


def normalize_number(raw, region=None):
    """E.164 digits (no '+') of ``raw``, or None when it cannot be a phone number."""
    if not isinstance(raw, str):
        return None
    text = _SEPARATORS.sub('', raw)
    if text.startswith('+'):
        digits = text[1:]
    elif text.startswith('00'):
        digits = text[2:]
    elif region:
        code = CALLING_CODES.get(str(region).upper())
        if not code:
            return None
        # Italian numbers keep their leading 0; other trunk prefixes are dropped.
        national = text if code == '39' else text[1:] if text.startswith('0') else text
        digits = code + national
    else:
        return None
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith('0'):
        return None
    return digits


def region_of(digits):
    """The region (ISO 3166 alpha-2) a number is billed as, from its E.164 digits (longest
    calling code first); '' when its code is not in ``CALLING_CODES``."""
    digits = str(digits or '')
    for length in (3, 2, 1):
        region = _REGION_OF_CODE.get(digits[:length])
        if region and len(digits) > length:
            return region
    return ''


def number_key(raw):
    """Digits used to match configured number lists ('+33...', '0033...', '33...')."""
    text = _SEPARATORS.sub('', str(raw))
    if text.startswith('+'):
        text = text[1:]
    elif text.startswith('00'):
        text = text[2:]
    return text


GSM7_BASIC = set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?'
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'
)
GSM7_EXTENSION = set('^{}\\[~]|€\f')


def sms_parts(text):
    """How many SMS parts ``text`` needs (GSM-7 160/153, else UCS-2 70/67)."""
    text = text or ''
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        length = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, multi = 160, 153
    else:
        length = len(text.encode('utf-16-le')) // 2
        single, multi = 70, 67
    return 1 if length <= single else math.ceil(length / multi)


def lifecycle(record, now):
    """(status, sent_at, done_at) of a stored message at ``now``; steps are delayed."""
    step = record['_delay']
    created = record['created_at']
    if now < created + step:
        return record['_initial_status'], None, None
    if now < created + 2 * step:
        return 'sent', created + step, None
    final = 'undelivered' if record['undelivered'] else 'delivered'
    return final, created + step, created + 2 * step


def iso(moment):
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec='seconds')


def same(given, expected):
    """Constant-time comparison of two header values (any characters)."""
    return hmac.compare_digest(given.encode('utf-8', 'replace'),
                               expected.encode('utf-8', 'replace'))

"""Smart encoding: replace a listed set of characters that are not GSM-7 by GSM-7 look-alikes.

One character outside the GSM 7-bit alphabet sends the whole SMS in UCS-2, where a segment
holds 70 characters instead of 160: a curly apostrophe pasted from a word processor, or the
narrow non-breaking space French typography puts before ``!``, can triple the cost of a
reminder. An account may therefore ask for its bodies to be rewritten before they are sent:

* ``typography``: quotes, apostrophes, guillemets, dashes, ellipsis, the degree and ordinal
  signs, special spaces and invisible characters (``TYPOGRAPHY``);
* ``letters``: the same, plus letters missing from GSM-7 replaced by the same letter without
  its accent, in the same case (``LETTERS``: ``ç`` -> ``c``, ``ê`` -> ``e``, ``œ`` -> ``oe``...).
  Letters the GSM-7 alphabet has (``é è ù ì ò à Ç É Ä Ö Ñ Ü Å Ø Æ ä ö ñ ü å ø æ ß``) are kept.

Only the characters listed in these tables change; any other character stays as it is (and
sends the SMS in UCS-2 if it is not GSM-7). ``REPLACEMENTS`` lists every replacement with a
description, for the documentation. Nothing here imports Odoo.
"""
import re

OFF = 'off'
TYPOGRAPHY = 'typography'
LETTERS = 'letters'
LEVELS = (OFF, TYPOGRAPHY, LETTERS)

# (character, replacement, description). A replacement is GSM-7 default alphabet only (no
# extension character, which costs two septets) and may be empty (invisible characters).
TYPOGRAPHY_TABLE = (
    ('\u2018', "'", 'left single quotation mark'),
    ('\u2019', "'", 'right single quotation mark (typographic apostrophe)'),
    ('\u201a', "'", 'single low-9 quotation mark'),
    ('\u201b', "'", 'single high-reversed-9 quotation mark'),
    ('\u2032', "'", 'prime'),
    ('\u02bc', "'", 'modifier letter apostrophe'),
    ('\u00b4', "'", 'acute accent'),
    ('`', "'", 'grave accent (backtick)'),
    ('\u2039', "'", 'single left-pointing angle quotation mark'),
    ('\u203a', "'", 'single right-pointing angle quotation mark'),
    ('\u201c', '"', 'left double quotation mark'),
    ('\u201d', '"', 'right double quotation mark'),
    ('\u201e', '"', 'double low-9 quotation mark'),
    ('\u201f', '"', 'double high-reversed-9 quotation mark'),
    ('\u2033', '"', 'double prime'),
    ('\u00ab', '"', 'left-pointing guillemet (the spaces inside it are removed)'),
    ('\u00bb', '"', 'right-pointing guillemet (the spaces inside it are removed)'),
    ('\u2010', '-', 'hyphen'),
    ('\u2011', '-', 'non-breaking hyphen'),
    ('\u2012', '-', 'figure dash'),
    ('\u2013', '-', 'en dash'),
    ('\u2014', '-', 'em dash'),
    ('\u2015', '-', 'horizontal bar'),
    ('\u2212', '-', 'minus sign'),
    ('\u2026', '...', 'horizontal ellipsis'),
    ('\u00b0', 'o', 'degree sign (n°, 20°C)'),
    ('\u00ba', 'o', 'masculine ordinal indicator (nº)'),
    ('\u00aa', 'a', 'feminine ordinal indicator'),
    ('\u00a0', ' ', 'no-break space'),
    ('\u202f', ' ', 'narrow no-break space'),
    ('\u2007', ' ', 'figure space'),
    ('\u2009', ' ', 'thin space'),
    ('\u200a', ' ', 'hair space'),
    ('\u2002', ' ', 'en space'),
    ('\u2003', ' ', 'em space'),
    ('\u2004', ' ', 'three-per-em space'),
    ('\u2005', ' ', 'four-per-em space'),
    ('\u2006', ' ', 'six-per-em space'),
    ('\u2008', ' ', 'punctuation space'),
    ('\u205f', ' ', 'medium mathematical space'),
    ('\t', ' ', 'character tabulation'),
    ('\u200b', '', 'zero width space (removed)'),
    ('\u2060', '', 'word joiner (removed)'),
    ('\ufeff', '', 'zero width no-break space / byte order mark (removed)'),
    ('\u00ad', '', 'soft hyphen (removed)'),
)

LETTERS_TABLE = (
    ('\u00e1', 'a', 'a with acute'),
    ('\u00e2', 'a', 'a with circumflex'),
    ('\u00e3', 'a', 'a with tilde'),
    ('\u00c0', 'A', 'A with grave'),
    ('\u00c1', 'A', 'A with acute'),
    ('\u00c2', 'A', 'A with circumflex'),
    ('\u00c3', 'A', 'A with tilde'),
    ('\u00e7', 'c', 'c with cedilla'),
    ('\u00ea', 'e', 'e with circumflex'),
    ('\u00eb', 'e', 'e with diaeresis'),
    ('\u00c8', 'E', 'E with grave'),
    ('\u00ca', 'E', 'E with circumflex'),
    ('\u00cb', 'E', 'E with diaeresis'),
    ('\u00ed', 'i', 'i with acute'),
    ('\u00ee', 'i', 'i with circumflex'),
    ('\u00ef', 'i', 'i with diaeresis'),
    ('\u00cc', 'I', 'I with grave'),
    ('\u00cd', 'I', 'I with acute'),
    ('\u00ce', 'I', 'I with circumflex'),
    ('\u00cf', 'I', 'I with diaeresis'),
    ('\u00f3', 'o', 'o with acute'),
    ('\u00f4', 'o', 'o with circumflex'),
    ('\u00f5', 'o', 'o with tilde'),
    ('\u00d2', 'O', 'O with grave'),
    ('\u00d3', 'O', 'O with acute'),
    ('\u00d4', 'O', 'O with circumflex'),
    ('\u00d5', 'O', 'O with tilde'),
    ('\u00fa', 'u', 'u with acute'),
    ('\u00fb', 'u', 'u with circumflex'),
    ('\u00d9', 'U', 'U with grave'),
    ('\u00da', 'U', 'U with acute'),
    ('\u00db', 'U', 'U with circumflex'),
    ('\u00fd', 'y', 'y with acute'),
    ('\u00ff', 'y', 'y with diaeresis'),
    ('\u00dd', 'Y', 'Y with acute'),
    ('\u0178', 'Y', 'Y with diaeresis'),
    ('\u0153', 'oe', 'ligature oe'),
    ('\u0152', 'OE', 'ligature OE'),
)

REPLACEMENTS = {TYPOGRAPHY: TYPOGRAPHY_TABLE, LETTERS: LETTERS_TABLE}

_TRANSLATE = {
    TYPOGRAPHY: {ord(char): repl for char, repl, _d in TYPOGRAPHY_TABLE},
}
_TRANSLATE[LETTERS] = {**_TRANSLATE[TYPOGRAPHY], **{ord(c): r for c, r, _d in LETTERS_TABLE}}
_CHANGED = {level: re.compile('[%s]' % re.escape(''.join(chr(code) for code in table)))
            for level, table in _TRANSLATE.items()}
# French guillemets carry a (narrow) no-break space inside: '« Oui »' becomes '"Oui"'.
_GUILLEMET_SPACES = re.compile('(\u00ab)[ \u00a0\u202f\u2009]+|[ \u00a0\u202f\u2009]+(\u00bb)')


def apply(body, level):
    """``body`` as sent by an account with smart encoding ``level`` (``off``, ``typography``
    or ``letters``); unchanged when it holds none of the listed characters."""
    table = _TRANSLATE.get(level)
    if not table or not body or _CHANGED[level].search(body) is None:
        return body
    if '\u00ab' in body or '\u00bb' in body:
        body = _GUILLEMET_SPACES.sub(lambda m: m.group(1) or m.group(2), body)
    return body.translate(table)


def changes(body, level):
    """The distinct characters of ``body`` that ``level`` replaces, in order of appearance."""
    pattern = _CHANGED.get(level)
    if pattern is None or not body:
        return ()
    return tuple(dict.fromkeys(pattern.findall(body)))

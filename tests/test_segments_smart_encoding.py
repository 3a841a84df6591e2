"""Smart encoding: only the listed characters change, and they all become GSM-7."""
import unicodedata

import pytest

from addons.sms_router.engine import smart_encoding
from addons.sms_router.engine.segments import GSM7, GSM7_BASIC, GSM7_EXTENSION, UCS2, measure
from addons.sms_router.engine.smart_encoding import LETTERS, OFF, TYPOGRAPHY, apply, changes

ALL_ROWS = smart_encoding.TYPOGRAPHY_TABLE + smart_encoding.LETTERS_TABLE


@pytest.mark.parametrize(('char', 'replacement', 'description'), ALL_ROWS,
                         ids=[f'U+{ord(c):04X}' for c, _r, _d in ALL_ROWS])
def test_every_replacement_is_needed_and_gsm7(char, replacement, description):
    assert description
    # the character itself is not GSM-7 (replacing a GSM-7 character would alter the text
    # for nothing) and its replacement is in the default table (one septet a character)
    assert measure(char).encoding == UCS2
    assert all(c in GSM7_BASIC for c in replacement)
    assert not set(replacement) & set(GSM7_EXTENSION)


def test_tables_have_no_duplicates():
    chars = [c for c, _r, _d in ALL_ROWS]
    assert len(chars) == len(set(chars))


def test_letters_are_the_base_letter_in_the_same_case():
    for char, replacement, _d in smart_encoding.LETTERS_TABLE:
        if char in '\u0153\u0152':
            continue
        base = unicodedata.normalize('NFD', char)[0]
        assert replacement == base, char


def test_gsm7_letters_are_never_replaced():
    """Letters of the GSM-7 alphabet, accented or not, stay: é è ù ì ò à Ç É Ä Ö Ñ Ü..."""
    text = GSM7_BASIC + GSM7_EXTENSION
    assert apply(text, LETTERS) == text
    assert apply(text, TYPOGRAPHY) == text
    assert changes(text, LETTERS) == ()


def test_off_changes_nothing():
    body = '« Déjà prêt » – ça coûte 5 €'
    assert apply(body, OFF) is body
    assert apply(body, None) is body
    assert apply('', LETTERS) == ''


def test_typography_keeps_letters():
    body = 'L’été ç ê œ'
    assert apply(body, TYPOGRAPHY) == "L'été ç ê œ"
    assert measure(apply(body, TYPOGRAPHY)).ucs2_chars == ('ç', 'ê', 'œ')


def test_french_typography():
    # narrow no-break spaces before ! ? ; : and €, no-break spaces inside guillemets
    body = 'Votre RDV\u202f: demain\u202f! «\u00a0Dr Martin\u00a0» \u2013 20\u202f€\u2026 Prêt\u202f?'
    assert apply(body, TYPOGRAPHY) == 'Votre RDV : demain ! "Dr Martin" - 20 €... Prêt ?'
    assert measure(apply(body, TYPOGRAPHY)).ucs2_chars == ('ê',)
    assert apply(body, LETTERS) == 'Votre RDV : demain ! "Dr Martin" - 20 €... Pret ?'
    assert measure(apply(body, LETTERS)).encoding == GSM7


def test_guillemets_with_plain_spaces_and_newlines():
    assert apply('« Oui »', TYPOGRAPHY) == '"Oui"'
    assert apply('«Oui»', TYPOGRAPHY) == '"Oui"'
    # a line break next to a guillemet is kept
    assert apply('«\nOui\n»', TYPOGRAPHY) == '"\nOui\n"'


def test_degree_and_ordinals():
    assert apply('Il fait 20°C, dossier n° 12, nº 3, 1ª', TYPOGRAPHY) == 'Il fait 20oC, dossier no 12, no 3, 1a'


def test_invisible_characters_are_removed():
    assert apply('co\u00adde\u200b 12\ufeff34\u2060', TYPOGRAPHY) == 'code 1234'


def test_unlisted_characters_stay():
    body = 'Привет \U0001F600 ž ł'
    assert apply(body, LETTERS) == body
    assert measure(apply(body, LETTERS)).encoding == UCS2


def test_c_cedilla_reminder_back_to_one_segment():
    body = ('Bonjour, votre rendez-vous est confirmé le mardi 3 mars à 14h30 au cabinet du '
            'Dr Martin, 12 rue de la Paix. Répondez ANNULER pour annuler. Reçu ! Bonne journée')
    assert measure(body)[:3] == (UCS2, 159, 3)
    assert measure(apply(body, TYPOGRAPHY))[:3] == (UCS2, 159, 3)
    assert measure(apply(body, LETTERS))[:3] == (GSM7, 159, 1)


def test_changes_lists_replaced_characters():
    assert changes('l’été ç ç', TYPOGRAPHY) == ('’',)
    assert changes('l’été ç ç', LETTERS) == ('’', 'ç')
    assert changes('abc', OFF) == ()


def test_letters_include_typography():
    assert set(smart_encoding._TRANSLATE[TYPOGRAPHY]) < set(smart_encoding._TRANSLATE[LETTERS])

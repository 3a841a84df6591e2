"""Each addon's French translation (``<addon>/i18n/fr.po``) covers its whole template.

Every msgid of ``<addon>.pot`` must be in ``fr.po``, translated (not fuzzy), with the same
placeholders and the same markup tags. An empty msgstr is only right where French writes
the term as English does (SAME_IN_FRENCH; codes, numbers and placeholders alone): ``make
lint`` (oca-checks-po) empties a msgstr equal to its msgid.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ('sms_router', 'sms_router_sweego', 'sms_router_twilio', 'sms_router_ovh')

# Terms French writes as English does (their msgstr stays empty, see above).
SAME_IN_FRENCH = {
    # HTTP API templates: provider names, a credential's own name, a URL template.
    "Africa's Talking", 'Auth ID', 'ClickSend', 'Infobip', 'Plivo', 'SMSFactor', 'Sinch', 'Telnyx',
    'Textmagic', 'smsmode', '{base_url}/sms/send',
    'Base', 'Configuration', 'Contact', 'Danger', 'Destination', 'Total',
    '%(price)s %(currency)s/segment', 'Destinations', 'Marketing', 'Messages', 'Note', 'Notes', 'Options',
    'Route', 'Routes', 'Segments', 'Source', 'Verdict', 'Webhooks', 'ms', 'web.base.url', 'whsec_...',
    '%s segments/s', '<span class="col-lg-3">minutes</span>', 'Unicode (UCS-2)',
    # Names of products and of their endpoints.
    'Odoo IAP', 'Sweego', 'Twilio', 'Messaging Service', 'OVHcloud', 'Canada (ca.api.ovh.com)',
    'Europe (eu.api.ovh.com)',
}
PLACEHOLDER = re.compile(r'%(?:\([\w.]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]|\{[\w.]*\}')
TAG = re.compile(r'</?([a-zA-Z][\w.-]*)')


def _entries(path):
    """{msgid: (msgstr, fuzzy)} of a .po or .pot file (babel, an Odoo requirement)."""
    pofile = pytest.importorskip('babel.messages.pofile')
    with path.open('rb') as handle:
        catalog = pofile.read_po(handle, ignore_obsolete=True, abort_invalid=True)
    return {message.id: (message.string or '', message.fuzzy) for message in catalog if message.id}


def _template(addon):
    return ROOT / addon / 'i18n' / f'{addon}.pot'


@pytest.mark.parametrize('addon', ADDONS)
def test_french_translation_is_complete(addon):
    french = ROOT / addon / 'i18n' / 'fr.po'
    if not _template(addon).exists():
        pytest.skip(f'{addon} has no translation template')
    if not french.exists():
        pytest.skip(f'{addon} HAS NO FRENCH TRANSLATION: {french.relative_to(ROOT)} is missing')
    template, translated = _entries(_template(addon)), _entries(french)
    missing = sorted(set(template) - set(translated))
    assert not missing, f'{french.relative_to(ROOT)} misses {len(missing)} msgid of the template ' \
                        f'(merge it: msgmerge --update fr.po {addon}.pot), e.g. {missing[:3]}'
    obsolete = sorted(set(translated) - set(template))
    assert not obsolete, f'{french.relative_to(ROOT)} has msgids the template no longer has: {obsolete[:3]}'
    problems = []
    for msgid in template:
        msgstr, fuzzy = translated[msgid]
        if fuzzy:
            problems.append(f'fuzzy: {msgid!r}')
        elif not msgstr:
            if msgid not in SAME_IN_FRENCH and not re.fullmatch(r'[^a-z]*', PLACEHOLDER.sub('', msgid)):
                problems.append(f'untranslated: {msgid!r}')
        elif sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr)):
            problems.append(f'placeholders differ: {msgid!r} -> {msgstr!r}')
        elif sorted(TAG.findall(msgid)) != sorted(TAG.findall(msgstr)):
            problems.append(f'markup differs: {msgid!r} -> {msgstr!r}')
    assert not problems, f'{french.relative_to(ROOT)}:\n' + '\n'.join(problems)

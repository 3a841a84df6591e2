"""The HTTP API templates' readable texts reach the translations (engine/http_template_texts.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

from addons.sms_router.engine import http_template_texts, http_templates
from addons.sms_router.engine.reasons import Reason

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / 'tests' / 'harness' / 'gen_http_template_texts.py'


@pytest.mark.parametrize('key', http_templates.template_keys())
def test_every_readable_text_of_a_template_is_translatable(key):
    template = http_templates.load_template(key)
    texts = set(http_template_texts.TEXTS)
    readable = [template['name'], template.get('notes')] + list(template['credentials'].values())
    missing = [text for text in readable if text and text not in texts]
    assert not missing, f'{key}: run python3 tests/harness/gen_http_template_texts.py ({missing})'
    assert all(isinstance(text, Reason) for text in http_template_texts.TEXTS)


def test_the_generated_module_is_up_to_date():
    result = subprocess.run([sys.executable, str(GENERATOR), '--check'], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr

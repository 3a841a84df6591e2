"""The screenshot script's browser driver against a local page, in a real headless Chromium
(skipped when there is none): it waits for what the page loads late, types as a person does
and saves a PNG of the window's size."""
import functools
import http.server
import struct
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import browser  # noqa: E402
import screenshots  # noqa: E402

PAGE = """<!DOCTYPE html><html><body style="margin:0">
<input id="number"><div id="result"></div>
<script>
  // Content that comes after a request, as Odoo's views do.
  setTimeout(() => fetch('/late.txt').then(r => r.text()).then(text => {
      const card = document.createElement('div');
      card.className = 'card';
      card.textContent = text;
      document.body.appendChild(card);
  }), 300);
  document.getElementById('number').addEventListener('change', ev => {
      document.getElementById('result').textContent = 'read ' + ev.target.value;
  });
</script></body></html>"""


@pytest.fixture
def site(tmp_path):
    (tmp_path / 'index.html').write_text(PAGE)
    (tmp_path / 'late.txt').write_text('Sweego France: Open')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_chromium_waits_types_and_saves_a_png(site, tmp_path):
    executable = browser.find_executable()
    if not executable:
        pytest.skip('no Chromium on PATH')
    chromium = screenshots.Chromium(executable, width=800, height=600)
    try:
        chromium.navigate(f'{site}/index.html')
        assert chromium.wait_for('document.querySelector(".card") && '
                                 'document.querySelector(".card").textContent', 'the card') == 'Sweego France: Open'
        chromium.type_into('#number', '06 12 34 56 78', 'the number field')
        assert chromium.wait_for('document.getElementById("result").textContent', 'the result') == \
            'read 06 12 34 56 78'
        chromium.wait_idle(quiet=0.2)
        assert not chromium.in_flight
        with pytest.raises(screenshots.PageError, match='timed out after 0.3s waiting for nothing'):
            chromium.wait_for('false', 'nothing', timeout=0.3)
        shot = tmp_path / 'shot.png'
        chromium.screenshot(shot)
    finally:
        chromium.close()
    data = shot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    assert struct.unpack('>II', data[16:24]) == (800, 600)
    assert not chromium.errors

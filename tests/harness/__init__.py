"""Set-up and test tooling for the SMS router repository (standard library only).

The modules are run as scripts (``python3 tests/harness/run_odoo_tests.py``) and import
their siblings by plain name, so they also work from a fresh clone with nothing installed.
"""

"""Refresh the translation templates (``<addon>/i18n/<addon>.pot``) of our addons.

    python3 tests/harness/export_pot.py [--addons a,b]        (make pot)

Installs the addons without demo data in a database of a throwaway PostgreSQL cluster and
exports each addon's terms with Odoo's own ``i18n export`` command, as Odoo's translators
do, so the templates list exactly what Odoo would offer to translate.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import odoo_env
import pgcluster
import procutil

DB_NAME = 'sms_router_pot'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--addons', default='', help='comma-separated addons (default: all of ours)')
    args = parser.parse_args(argv)
    procutil.install_signal_handlers()
    install = odoo_env.detect_odoo()
    if not install.importable:
        print(f'ERROR: {install.reason}', flush=True)
        return 2
    only = [a.strip() for a in args.addons.split(',') if a.strip()] or None
    modules = [a.name for a in odoo_env.our_addons([], only=only) if a.installable]
    with pgcluster.PgCluster() as pg, tempfile.TemporaryDirectory(prefix='sms-router-pot-') as tmp:
        db_args = pg.odoo_args()
        addons_path = odoo_env.addons_path_option(install, [])
        init = list(install.command) + [
            f'--addons-path={addons_path}', f'--data-dir={tmp}', *db_args, f'--database={DB_NAME}',
            f'--init={",".join(modules)}', '--stop-after-init', '--log-level=warn']
        print(f'installing {", ".join(modules)} ...', flush=True)
        subprocess.run(init, check=True, stdin=subprocess.DEVNULL, env=odoo_env.odoo_environ(),
                       cwd=str(odoo_env.REPO_ROOT))
        # `i18n export` reads the database server from a configuration file only.
        rc = Path(tmp) / 'odoo.conf'
        options = dict(arg.lstrip('-').split('=', 1) for arg in db_args)
        rc.write_text('[options]\n' + ''.join(f'{key} = {value}\n' for key, value in options.items())
                      + f'addons_path = {addons_path}\ndata_dir = {tmp}\n', encoding='utf-8')
        export = list(install.command) + ['i18n', 'export', '-c', str(rc), '-d', DB_NAME, *modules]
        subprocess.run(export, check=True, stdin=subprocess.DEVNULL, env=odoo_env.odoo_environ(),
                       cwd=str(odoo_env.REPO_ROOT))
    for name in modules:
        print(f'{name}/i18n/{name}.pot refreshed', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

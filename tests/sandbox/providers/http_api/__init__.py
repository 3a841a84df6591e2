"""Stand-ins of the providers reached through the router's generic *HTTP API* provider type.

One module per provider, named after its template key (``sms_router/engine/http_templates/
<key>.json``), each defining one :class:`~sandbox.providers.base.Provider` subclass whose
``name`` is that key. Each is written from the provider's public documentation (cited in
its docstring), independently of the templates: it checks a request the way the provider
documents it and answers like the provider, so that a template that does not follow the
documentation fails against it.

Adding a provider is adding a module here: every module whose name does not start with an
underscore is imported and its ``Provider`` subclass joins ``HTTP_API_CLASSES``, sorted by
key (their dedicated ports follow the built-in providers' in that order). Helpers they
share are in ``_common.py``.
"""
import importlib
import pkgutil

from ..base import Provider


def _discover():
    classes = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda item: item.name):
        if info.name.startswith('_'):
            continue
        module = importlib.import_module(f'{__name__}.{info.name}')
        found = [value for value in vars(module).values()
                 if isinstance(value, type) and issubclass(value, Provider)
                 and value.__module__ == module.__name__ and value.name]
        if len(found) != 1 or found[0].name != info.name:
            raise ImportError(f'{module.__name__} must define one Provider subclass named '
                              f'{info.name!r}, found {[cls.name for cls in found]}')
        classes.append(found[0])
    return tuple(classes)


HTTP_API_CLASSES = _discover()

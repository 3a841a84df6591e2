"""The control API on the shared port (``/_control``): the HTTP face of :class:`Sandbox`'s
``state``, ``configure``, ``reset`` and ``messages``."""
import json

from .providers import ALL_PROVIDERS


def handle(request, method, path, query, body):
    """Answer a ``/_control`` request; ``path`` is what follows the prefix."""
    sandbox = request.sandbox
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        request.reply_json(400, {'error': 'body is not JSON'})
        return
    if path in ('/', '') and method == 'GET':
        request.reply_json(200, sandbox.state())
        return
    if path == '/health' and method == 'GET':
        request.reply_json(200, {'ok': True, 'url': sandbox.url})
        return
    if path == '/reset' and method == 'POST':
        try:
            sandbox.reset(provider=data.get('provider'),
                          counters_only=bool(data.get('counters_only')))
        except ValueError as error:
            request.reply_json(400, {'error': str(error)})
            return
        request.reply_json(200, sandbox.state())
        return
    if path == '/messages' and method == 'GET':
        provider = query.get('provider', [None])[-1]
        limit = query.get('limit', ['100'])[-1]
        try:
            request.reply_json(200, sandbox.messages(provider, limit=int(limit)))
        except ValueError as error:
            request.reply_json(400, {'error': str(error)})
        return
    if path == '/billing' and method == 'GET':
        try:
            request.reply_json(200, sandbox.billing(query.get('provider', [None])[-1]))
        except ValueError as error:
            request.reply_json(400, {'error': str(error)})
        return
    if path == '/requests' and method == 'GET':
        provider = query.get('provider', [None])[-1]
        since = query.get('since', [None])[-1]
        try:
            request.reply_json(200, sandbox.request_log(provider, float(since) if since else None))
        except ValueError as error:
            request.reply_json(400, {'error': str(error)})
        return
    name = path.strip('/')
    if name in ALL_PROVIDERS:
        if method == 'GET':
            request.reply_json(200, sandbox.state()['providers'][name])
            return
        if method == 'POST':
            if not isinstance(data, dict):
                request.reply_json(400, {'error': 'body must be a JSON object'})
                return
            try:
                sandbox.configure(name, **data)
            except (TypeError, ValueError) as error:
                request.reply_json(400, {'error': str(error)})
                return
            request.reply_json(200, sandbox.state()['providers'][name])
            return
    request.reply_json(404, {'error': f'no control route {method} {path}'})

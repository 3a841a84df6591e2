from . import main
from . import webhook
from . import http_api

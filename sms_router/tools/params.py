"""System parameters (ir.config_parameter) the router and its provider addons read."""
import logging

_logger = logging.getLogger(__name__)


def int_param(env, param):
    """The integer value of ``param`` = (name, default): the default when the parameter is
    unset or empty, and, with a warning, when it is not an integer."""
    name, default = param
    value = env['ir.config_parameter'].sudo().get_param(name)
    if value in (None, False, ''):
        return default
    try:
        return int(value)
    except ValueError:
        _logger.warning('SMS router: ignoring non-integer system parameter %s=%r', name, value)
        return default

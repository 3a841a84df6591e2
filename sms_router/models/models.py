from odoo import models

from ..engine.routing import NumberError, parse_destination


class Base(models.AbstractModel):
    _inherit = 'base'

    def _phone_format_number(self, number, country, force_format='E164', raise_exception=False):
        """In the send preview only (context key ``sms_router_parsed``, a dict): read the
        number with the router's parser instead of Odoo's, so that each number of a preview
        is parsed once, for Odoo's "is it usable" and for the route alike; the Destination
        is kept in that dict under its E.164 form. Odoo's recipient rules (which field,
        which partner, which country) stay Odoo's."""
        parsed = self.env.context.get('sms_router_parsed')
        if parsed is None or force_format != 'E164' or raise_exception or not number:
            return super()._phone_format_number(number, country, force_format=force_format,
                                                raise_exception=raise_exception)
        try:
            destination = parse_destination(number, country.code if country else None)
        except NumberError:
            return False
        parsed[destination.e164] = destination
        return destination.e164

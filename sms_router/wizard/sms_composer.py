from odoo import api, fields, models

from ..engine.routing import TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL, NumberError, example_number
from ..engine.segments import describe_chars, measure
from ..tools.sms_api import CompanyRouting
from .sms_router_route_tester import segments_text


class SmsComposer(models.TransientModel):
    _inherit = 'sms.composer'

    # What the router will send, below Odoo's own count: Odoo's widget counts "€" and the other
    # characters of the GSM-7 extension table as Unicode, knows nothing of smart encoding or of
    # the text a provider appends.
    sms_router_count = fields.Char('SMS Router Count', compute='_compute_sms_router_count')
    sms_router_ucs2_chars = fields.Char('Forcing Unicode', compute='_compute_sms_router_count')

    @api.depends('body', 'composition_mode', 'recipient_single_number_itf', 'res_model', 'res_id')
    @api.depends_context('lang', 'allowed_company_ids')
    def _compute_sms_router_count(self):
        for composer in self:
            composer.sms_router_count, composer.sms_router_ucs2_chars = composer._sms_router_count()

    def _sms_router_company(self):
        """The company whose routes send this composer's SMS (see sms.sms._get_sms_company)."""
        records = self._get_records() if self.composition_mode == 'comment' and self.res_id else None
        if records and len(records) == 1 and 'company_id' in records._fields and records.company_id:
            return records.company_id
        return self.env.company

    def _sms_router_count(self):
        """(text, characters forcing Unicode) of the body as the router will send it: through
        the first account of the chain of the recipient's number (a single recipient), else of
        a number of the company's country; (False, False) when the router does not send it."""
        self.ensure_one()
        body = self.body or ''
        company = self._sms_router_company()
        if not body or not company.sudo()._sms_router_is_enabled():
            return False, False
        marketing = self.composition_mode == 'mass'
        traffic = TRAFFIC_MARKETING if marketing else TRAFFIC_TRANSACTIONAL
        number = self.recipient_single_number_itf if self.composition_mode == 'comment' else ''
        if not number and company.country_id:
            number = example_number(region=company.country_id.code)
        handle = destination = None
        if number:
            routing = CompanyRouting(self.env, company)
            try:
                destination, _match, chain = routing.match(number, traffic)
            except NumberError:
                chain = ()
            handle = chain[0] if chain else None
        if handle is None:
            info = measure(body)
            return segments_text(self.env, info), describe_chars(info.ucs2_chars) or False
        info = handle.measure(body, destination.region, marketing)
        text = self.env._('Through %(account)s, %(count)s', account=handle.name, count=segments_text(self.env, info))
        return text, describe_chars(info.ucs2_chars) or False

    def _prepare_mass_sms_values(self, records):
        results = super()._prepare_mass_sms_values(records)
        for record in records:
            company = record.company_id if 'company_id' in record._fields else False
            if company and record.id in results:
                results[record.id]['sms_router_company_id'] = company.id
        return results

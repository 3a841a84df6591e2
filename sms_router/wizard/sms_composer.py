from ast import literal_eval

from odoo import api, fields, models

from ..engine.routing import (
    TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL, NumberError, example_number, parse_destination,
)
from ..engine.segments import describe_chars, measure
from .sms_router_route_tester import segments_text


class SmsComposer(models.TransientModel):
    _inherit = 'sms.composer'

    # What the router will send, below Odoo's own count: Odoo's widget counts "€" and the other
    # characters of the GSM-7 extension table as Unicode, knows nothing of smart encoding or of
    # the text a provider appends.
    sms_router_count = fields.Char('SMS Router Count', compute='_compute_sms_router_count')
    sms_router_ucs2_chars = fields.Char('Forcing Unicode', compute='_compute_sms_router_count')

    @api.depends('body', 'composition_mode', 'recipient_single_number_itf', 'res_model', 'res_id', 'res_ids')
    @api.depends_context('lang', 'allowed_company_ids')
    def _compute_sms_router_count(self):
        # Recomputed at each change of the body: the first account of each (company, traffic,
        # region) is resolved once for the whole recordset, through the route table only (no
        # CompanyRouting: no breaker read through a side cursor, no provider client).
        first_accounts = {}
        for composer in self:
            composer.sms_router_count, composer.sms_router_ucs2_chars = composer._sms_router_count(first_accounts)

    def _sms_router_company(self):
        """The company whose routes send this composer's SMS: the rule sms.sms.create applies to
        them (see SmsSms.create), for the first record they go to. Posted on a record (comment
        mode), the message's company decides: the record's company, else env.company
        (mail.thread's _mail_get_companies, as message_post stores it). Mass mode: the record's
        company (_prepare_mass_sms_values), else the mailing's (_sms_router_mailing_company),
        else env.company; numbers only: the mailing's, else env.company."""
        self.ensure_one()
        record = self._sms_router_first_record()
        if record and self.composition_mode == 'comment' and hasattr(record, '_mail_get_companies'):
            return record._mail_get_companies(default=self.env.company)[record.id]
        if record and self.composition_mode == 'mass' and 'company_id' in record._fields and record.company_id:
            return record.company_id
        mailing_id = self.mailing_id.id if 'mailing_id' in self._fields else False
        return self.env['sms.sms']._sms_router_mailing_company(mailing_id) or self.env.company

    def _sms_router_first_record(self):
        """The first record the composer sends to (without browsing a whole mass selection)."""
        if self.composition_mode == 'numbers' or not self.res_model or self.res_model not in self.env:
            return None
        model = self.env[self.res_model]
        if self.res_ids:
            try:
                res_ids = literal_eval(self.res_ids)
            except (ValueError, SyntaxError):
                return None
            res_ids = [res_ids] if isinstance(res_ids, int) else list(res_ids or ())
            return model.browse(res_ids[:1]).exists() or None
        if self.res_id:
            return model.browse(self.res_id).exists() or None
        return None

    def _sms_router_first_account(self, company, traffic, destination, cache):
        """The account sending first to ``destination``: an sms.router.account, 'iap' for
        Odoo IAP as last resort, or None; as CompanyRouting.chain orders them, read from the
        route table only, once per (company, traffic, region) in ``cache``."""
        key = (company.id, traffic, destination.region, destination.e164)
        if key not in cache:
            first = None
            route = self.env['sms.router.route']._sms_router_table(company).explain(destination, traffic).route
            account_ids = list(route.chain) if route else []
            if account_ids:
                accounts = self.env['sms.router.account'].sudo().search(
                    [('id', 'in', account_ids), ('company_id', '=', company.id)])
                first = next((account for account_id in account_ids for account in accounts
                              if account.id == account_id), None)
            if first is None and company.sms_router_iap_last_resort:
                first = 'iap'
            cache[key] = first
        return cache[key]

    def _sms_router_count(self, first_accounts=None):
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
        account = None
        if number:
            try:
                destination = parse_destination(number, company.country_id.code)
            except NumberError:
                destination = None
            if destination:
                account = self._sms_router_first_account(
                    company, traffic, destination, {} if first_accounts is None else first_accounts)
        if account is None:
            info = measure(body)
            return segments_text(self.env, info), describe_chars(info.ucs2_chars) or False
        if account == 'iap':
            # Odoo IAP alters nothing and appends nothing (IapClient).
            info, name = measure(body), self.env._('Odoo IAP (last resort)')
        else:
            info, name = account._sms_router_measure(body, destination.region, marketing), account.name
        text = self.env._('Through %(account)s, %(count)s', account=name, count=segments_text(self.env, info))
        return text, describe_chars(info.ucs2_chars) or False

    def action_sms_router_preview(self):
        """Preview sending (mass mode): per recipient, the account that would send now, its
        segments and cost, when it would leave; totals per account. Nothing is sent."""
        self.ensure_one()
        return self.env['sms.router.send.preview']._sms_router_from_composer(self)._sms_router_action()

    def _prepare_mass_sms_values(self, records):
        results = super()._prepare_mass_sms_values(records)
        for record in records:
            company = record.company_id if 'company_id' in record._fields else False
            if company and record.id in results:
                results[record.id]['sms_router_company_id'] = company.id
        return results

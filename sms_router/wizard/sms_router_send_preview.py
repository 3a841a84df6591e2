"""Preview sending: for the recipients of a mass SMS (the SMS composer in mass mode) or of an
SMS mailing, the account that would send each SMS now, its segments, its estimated cost,
when it would leave, and the recipients it would not reach.

Built in one go when opened (tools/preview.py: one routing per company, each distinct chain
previewed once, prices, send windows and governors read once), then stored as a few lines:
one per way the SMS go (destination country, account, segments, departure), one per account
for the totals, one per recipient the SMS would not reach. Nothing is sent and nothing but
this wizard is written.
"""
import re
import time
from collections import defaultdict
from datetime import timezone

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import formatLang
from odoo.tools.mail import TEXT_URL_REGEX

from ..engine.routing import TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL
from ..tools.costs import PRICE_DIGITS
from ..tools.preview import FAIL, HOLD, NO_ROUTE, SEND, UNUSABLE, WAIT, WINDOW, SendPreview

# Recipients listed one by one among those the SMS would not reach (the rest are counted).
MAX_LISTED = 500

STATUSES = [
    (SEND, 'Leaves now'),
    (WINDOW, 'Waits for its send window'),
    (WAIT, 'Waits for its account'),
    (HOLD, 'Held: no account can send now'),
    (FAIL, 'Fails: no account can send now'),
    (NO_ROUTE, 'No route'),
    (UNUSABLE, 'No usable number'),
]
GOING = (SEND, WINDOW, WAIT, HOLD)


def _naive_utc(moment):
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0) if moment else False


class SmsRouterSendPreview(models.TransientModel):
    _name = 'sms.router.send.preview'
    _description = 'SMS Router: Send Preview'

    name = fields.Char('Sending', readonly=True)
    company_id = fields.Many2one('res.company', readonly=True,
                                 help='The company whose routes send most of these SMS (the composer\'s).')
    traffic = fields.Selection(selection='_selection_traffic', readonly=True)
    recipient_count = fields.Integer('Recipients', readonly=True)
    send_count = fields.Integer('SMS to Send', readonly=True,
                                help='Recipients an account would send to (now, or once their wait is over).')
    excluded_count = fields.Integer(
        'Excluded', readonly=True, help='Blacklisted, opted out or duplicate numbers: Odoo cancels their SMS.')
    unusable_count = fields.Integer('Without Usable Number', readonly=True)
    no_route_count = fields.Integer('Without Route', readonly=True)
    failing_count = fields.Integer(
        'Without Account Now', readonly=True,
        help='No account of their chain can send now and the company does not hold SMS: they would fail.')
    waiting_count = fields.Integer(
        'Waiting', readonly=True, help='SMS that would not leave now: outside their send window, waiting for '
                                       'their account (daily cap, Retry-After), or held until their chain recovers.')
    segment_total = fields.Integer('Segments', readonly=True)
    cost_summary = fields.Char('Estimated Cost', readonly=True,
                               help='Price per segment times segments, per currency of the price lists.')
    unpriced_count = fields.Integer('SMS Without Price', readonly=True,
                                    help='SMS of accounts without a price for their destination: not in the cost.')
    duration_ms = fields.Integer('Computed In (ms)', readonly=True)
    router_off = fields.Boolean(readonly=True, help="The company has no active route: Odoo's own sending is used.")
    account_ids = fields.One2many('sms.router.send.preview.account', 'preview_id', string='Per Account',
                                  readonly=True)
    line_ids = fields.One2many('sms.router.send.preview.line', 'preview_id', string='Details', readonly=True)
    problem_ids = fields.One2many('sms.router.send.preview.recipient', 'preview_id', string='Not Reached',
                                  readonly=True)
    problems_not_listed = fields.Integer(readonly=True)
    composer_id = fields.Many2one('sms.composer', readonly=True, ondelete='cascade')

    @api.model
    def _selection_traffic(self):
        return self.env['sms.sms']._fields['sms_router_traffic']._description_selection(self.env)

    # ------------------------------------------------------------------ entry points

    @api.model
    def _sms_router_from_composer(self, composer):
        """The preview of what ``composer`` (mass mode) would send, as its own sending
        decides it (Odoo's recipients, exclusions and bodies, then the router's routes)."""
        composer.ensure_one()
        if composer.composition_mode != 'mass':
            raise UserError(self.env._('The preview is for mass SMS: send to several records.'))
        records = composer._get_records()
        if not records:
            raise UserError(self.env._('No recipients to preview.'))
        started = time.perf_counter()
        mailing = composer.mailing_id if 'mailing_id' in composer._fields else None
        traffic = TRAFFIC_MARKETING if mailing else TRAFFIC_TRANSACTIONAL
        # Each number read once, by the router's parser, for Odoo's recipient rules and the
        # routes alike (see models/models.py).
        parsed = {}
        recipients = composer.with_context(sms_router_parsed=parsed)._prepare_recipient_values(
            records.with_context(sms_router_parsed=parsed))
        excluded = self._sms_router_excluded(composer, records, recipients, mailing)
        bodies = self._sms_router_bodies(composer, records, mailing)
        # As sms.sms.create decides it: the record's company, else the mailing's, else the
        # sender's current company.
        default_company = (self.env['sms.sms']._sms_router_mailing_company(mailing.id if mailing else False)
                           or composer.env.company)
        has_company = 'company_id' in records._fields
        values = {
            'name': mailing.display_name if mailing else self._sms_router_records_title(
                len(records), composer.res_model_description or records._description),
            'company_id': composer._sms_router_company().id, 'traffic': traffic, 'recipient_count': len(records),
        }
        previews = {}
        problems = []
        tallies = defaultdict(int)
        for record in records:
            info = recipients[record.id]
            if not info['sanitized']:
                tallies[UNUSABLE] += 1
                problems.append((record, info['number'] or '', UNUSABLE, self.env._(
                    'The number cannot be read.') if info['number'] else self.env._('No number.')))
                continue
            if record.id in excluded:
                tallies['excluded'] += 1
                problems.append((record, info['sanitized'], 'excluded', excluded[record.id]))
                continue
            company = (has_company and record.company_id) or default_company
            preview = previews.get(company.id)
            if preview is None:
                preview = previews[company.id] = self._sms_router_company_preview(company, traffic)
            if preview is False:
                tallies['off'] += 1
                continue
            group = preview.add(info['sanitized'], bodies[record.id], record.id, info['partner'],
                                parsed.get(info['sanitized']))
            if group.status in (UNUSABLE, NO_ROUTE):
                problems.append((record, info['sanitized'], group.status, group.reason))
        values.update(self._sms_router_values([p for p in previews.values() if p], tallies, problems,
                                               records.browse()))
        values['router_off'] = bool(tallies['off'])
        values['composer_id'] = composer.id if isinstance(composer.id, int) else False
        values['duration_ms'] = int((time.perf_counter() - started) * 1000)
        return self.create(values)

    @api.model
    def _sms_router_from_mailing(self, mailing):
        """The preview of an SMS mailing: its remaining recipients through the composer it
        sends with (never saved: nothing is sent nor traced)."""
        mailing.ensure_one()
        if mailing.mailing_type != 'sms':
            raise UserError(self.env._('The preview is for SMS mailings.'))
        res_ids = mailing._get_remaining_recipients()
        if not res_ids:
            raise UserError(self.env._('This mailing has no recipient left to send to.'))
        composer = self.env['sms.composer'].with_context(active_id=False).new(
            mailing._send_sms_get_composer_values(res_ids))
        return self._sms_router_from_composer(composer)

    @api.model
    def _sms_router_preview_active_mailing(self):
        """The preview of the mailing whose form runs the *Preview Sending* action."""
        mailing_id = self.env.context.get('active_id')
        if self.env.context.get('active_model') != 'mailing.mailing' or not mailing_id:
            raise UserError(self.env._('Open an SMS mailing to preview its sending.'))
        return self._sms_router_from_mailing(self.env['mailing.mailing'].browse(mailing_id))._sms_router_action()

    def _register_hook(self):
        super()._register_hook()
        self._sms_router_bind_mailing_preview()

    @api.model
    def _sms_router_bind_mailing_preview(self):
        """Show *Preview Sending* on SMS mailings when their addon is installed. sms_router
        does not depend on mass_mailing_sms, so its data cannot name mailing.mailing: the
        binding is set here, at every registry load, and written only when it changes (the
        mailing addon installed or removed, in either order)."""
        action = self.env.ref('sms_router.action_sms_router_preview_mailing', raise_if_not_found=False)
        if not action:
            return
        model_id = self.env['ir.model']._get_id('mailing.mailing') if 'mailing.mailing' in self.env else False
        if action.sudo().binding_model_id.id != (model_id or False):
            action.sudo().binding_model_id = model_id

    def _sms_router_action(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._('Preview Sending'),
            'res_model': self._name,
            'res_id': self.id,
            'view_mode': 'form',
            'target': 'new',
            'context': {'dialog_size': 'extra-large'},
        }

    def action_back_to_composer(self):
        """Back to the message (the composer the preview was opened from), to send it."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._('Send SMS'),
            'res_model': 'sms.composer',
            'res_id': self.composer_id.id,
            'view_mode': 'form',
            'target': 'new',
        }

    # ------------------------------------------------------------------ reading

    @api.model
    def _sms_router_company_preview(self, company, traffic):
        if not company.sudo()._sms_router_is_enabled():
            return False
        # Routes, accounts and breakers are the router's, read as sending reads them.
        return SendPreview(self.env['sms.sms'].sudo().env, company.sudo(), traffic)

    @api.model
    def _sms_router_records_title(self, count, model):
        """The preview's title for ``count`` records of ``model`` (its description)."""
        if count == 1:
            return self.env._('1 recipient (%(model)s)', model=model)
        return self.env._('%(count)s recipients (%(model)s)', count=count, model=model)

    def _sms_router_amount_text(self, amount, currency):
        """An estimated amount in the reader's number format, with the currency's decimals,
        or 4 when they would hide part of it (three SMS at 0.0075 USD are 0.0225 USD)."""
        digits = currency.decimal_places
        if round(amount, digits) != round(amount, max(digits, 4)):
            digits = max(digits, 4)
        return f'{formatLang(self.env, amount, digits=digits)} {currency.name}'

    def _sms_router_excluded(self, composer, records, recipients, mailing):
        """{record id: why Odoo cancels its SMS}: blacklisted, opted out, duplicate (the
        composer's own checks, in its order). Duplicates as sms.composer's
        _get_done_record_ids (the first record of a number sends, the later ones do not)
        and mass_mailing_sms's (records the mailing already sent to), with a set instead of
        its list: its search is quadratic, minutes for 10,000 recipients."""
        excluded = {}
        done_ids, seen = [], set()
        for record in records:
            sanitized = recipients[record.id]['sanitized']
            if sanitized in seen:
                done_ids.append(record.id)
            else:
                seen.add(sanitized)
        if mailing:
            done_ids += mailing._get_seen_list_sms()[0]
        for ids, reason in (
                (composer._get_blacklist_record_ids(records, recipients), self.env._('Blacklisted number.')),
                (composer._get_optout_record_ids(records, recipients), self.env._('Opted out.')),
                (done_ids, self.env._('Duplicate number, or already sent by this mailing.'))):
            for record_id in ids:
                excluded.setdefault(record_id, reason)
        return excluded

    @api.model
    def _sms_router_bodies(self, composer, records, mailing):
        """{record id: body} as sending renders it; a body without placeholders is not
        rendered per record. Links of a mailing count as the short links sending makes, and
        its opt-out link is appended as sending appends it."""
        body = composer.body or ''
        if '{{' in body or '{%' in body:
            additional = composer._get_additional_render_context().get('body', {})
            if composer.template_id and body == composer.template_id.body:
                bodies = composer.template_id._render_field('body', records.ids, compute_lang=True,
                                                            add_context=additional)
            else:
                bodies = self.env['mail.render.mixin']._render_template(body, records._name, records.ids,
                                                                        add_context=additional)
        else:
            bodies = dict.fromkeys(records.ids, body)
        if mailing:
            # mass_mailing_sms's own assumptions for its SMS counter: each link becomes a
            # short link of this length, the opt-out link is appended (sending makes them).
            placeholders = mailing.get_sms_link_replacements_placeholders()
            link = placeholders['link']
            stop = placeholders['unsubscribe'] if composer.mass_sms_allow_unsubscribe else ''
            shaped = {}
            for record_id, text in bodies.items():
                if text not in shaped:
                    shaped[text] = re.sub(TEXT_URL_REGEX, lambda _url: link, text or '') + stop
                bodies[record_id] = shaped[text]
        return bodies

    # ------------------------------------------------------------------ result

    @api.model
    def _sms_router_values(self, previews, tallies, problems, model):
        """The fields and lines of the preview from the SendPreview of each company; the
        recipients are records of ``model``, named in one read for the few shown."""
        countries = {country.code: country.id for country in self.env['res.country'].search([])}
        shown = model.browse(sorted(
            {res_id for preview in previews for group in preview.groups.values() for res_id in group.names}
            | {record.id for record, *_rest in problems[:MAX_LISTED]}))
        names = {record.id: record.display_name for record in shown}
        Account = self.env['sms.router.account'].sudo()
        providers = dict(Account._fields['sms_provider']._description_selection(self.env))
        account_ids = {group.account_id for preview in previews for group in preview.groups.values()}
        provider_of = {account.id: providers.get(account.sms_provider, account.sms_provider)
                       for account in Account.browse(sorted(filter(None, account_ids)))}
        window_ids = {group.window_rule_id for preview in previews for group in preview.groups.values()}
        window_names = {window.id: window.name for window in
                        self.env['sms.router.send.window'].sudo().browse(sorted(filter(None, window_ids)))}
        # In the reader's language (the Why column repeats the status when there is no reason).
        status_field = self.env['sms.router.send.preview.line']._fields['status']
        status_labels = dict(status_field._description_selection(self.env))
        lines, totals = [], {}
        counts = defaultdict(int, tallies)
        segment_total, costs = 0, defaultdict(float)
        for preview in previews:
            preview.price_groups()
            for group in preview.groups.values():
                counts[group.status] += group.count
                cost = group.price * group.segments * group.count if group.currency else 0.0
                lines.append({
                    'company_id': group.company.id, 'country_id': countries.get(group.region, False),
                    'account_id': group.account_id or False, 'account_name': group.account_name,
                    'status': group.status, 'sms_count': group.count,
                    'segments': group.segments * group.count, 'segments_each': group.segments,
                    'price': group.price or 0.0, 'cost': cost,
                    'currency_id': group.currency.id if group.currency else False,
                    'leaves_at': _naive_utc(group.leaves_at), 'window_id': group.window_rule_id or False,
                    'window_name': window_names.get(group.window_rule_id, False),
                    'reason': group.reason or status_labels.get(group.status, ''),
                    'recipients_sample': ', '.join(names.get(res_id, '') for res_id in group.names) + (
                        self.env._(' and %s more', group.count - len(group.names))
                        if group.count > len(group.names) else ''),
                })
                if group.status not in GOING:
                    continue
                key = (group.company.id, group.account_id, group.account_name, group.currency)
                total = totals.setdefault(key, {
                    'company_id': group.company.id, 'account_id': group.account_id or False,
                    'account_name': group.account_name, 'sms_count': 0, 'segments': 0, 'cost': 0.0,
                    'provider': provider_of.get(group.account_id) or (providers.get('iap') if group.account_name
                                                                       else False),
                    'currency_id': group.currency.id if group.currency else False, 'unpriced_count': 0,
                    'waiting_count': 0, 'first_departure': False})
                total['sms_count'] += group.count
                total['segments'] += group.segments * group.count
                segment_total += group.segments * group.count
                total['cost'] += cost
                if group.currency:
                    costs[group.currency] += cost
                else:
                    total['unpriced_count'] += group.count
                    counts['unpriced'] += group.count
                if group.status != SEND:
                    total['waiting_count'] += group.count
                    departure = _naive_utc(group.leaves_at)
                    if departure and (not total['first_departure'] or departure < total['first_departure']):
                        total['first_departure'] = departure
        lines.sort(key=lambda line: (list(status_labels).index(line['status']), line['account_name'] or '',
                                     -line['sms_count']))
        return {
            'send_count': sum(counts[status] for status in GOING),
            'waiting_count': sum(counts[status] for status in (WINDOW, WAIT, HOLD)),
            'excluded_count': counts['excluded'], 'unusable_count': counts[UNUSABLE],
            'no_route_count': counts[NO_ROUTE], 'failing_count': counts[FAIL],
            'segment_total': segment_total, 'unpriced_count': counts['unpriced'],
            'cost_summary': ' + '.join(
                self._sms_router_amount_text(amount, currency)
                for currency, amount in sorted(costs.items(), key=lambda item: item[0].name)) or False,
            'line_ids': [Command.create(line) for line in lines],
            'account_ids': [Command.create(total) for total in sorted(
                totals.values(), key=lambda total: (-total['sms_count'], total['account_name']))],
            'problem_ids': [Command.create({
                'res_model': record._name, 'res_id': record.id, 'name': names.get(record.id), 'number': number,
                'problem': problem, 'reason': reason,
            }) for record, number, problem, reason in problems[:MAX_LISTED]],
            'problems_not_listed': max(0, len(problems) - MAX_LISTED),
        }


class SmsRouterSendPreviewAccount(models.TransientModel):
    _name = 'sms.router.send.preview.account'
    _description = 'SMS Router: Send Preview per Account'
    _order = 'sms_count desc, id'

    preview_id = fields.Many2one('sms.router.send.preview', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one('res.company')
    account_id = fields.Many2one('sms.router.account', 'Provider Account')
    account_name = fields.Char('Account')
    provider = fields.Char()
    sms_count = fields.Integer('SMS')
    segments = fields.Integer()
    cost = fields.Float('Estimated Cost', digits=PRICE_DIGITS)
    currency_id = fields.Many2one('res.currency')
    unpriced_count = fields.Integer('Without Price', help='SMS of this account without a price for their destination.')
    waiting_count = fields.Integer('Waiting', help='SMS of this account that would not leave now.')
    first_departure = fields.Datetime('First Waiting SMS Leaves At')


class SmsRouterSendPreviewLine(models.TransientModel):
    _name = 'sms.router.send.preview.line'
    _description = 'SMS Router: Send Preview Line'
    _order = 'id'

    preview_id = fields.Many2one('sms.router.send.preview', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one('res.company')
    country_id = fields.Many2one('res.country', 'Destination')
    account_id = fields.Many2one('sms.router.account', 'Provider Account')
    account_name = fields.Char('Account', help='The account that would send these SMS now.')
    status = fields.Selection(STATUSES)
    sms_count = fields.Integer('SMS')
    segments_each = fields.Integer('Segments per SMS')
    segments = fields.Integer()
    price = fields.Float('Price per Segment', digits=PRICE_DIGITS)
    cost = fields.Float('Estimated Cost', digits=PRICE_DIGITS)
    currency_id = fields.Many2one('res.currency')
    leaves_at = fields.Datetime(help='When its send window opens, or when its chain is tried again.')
    window_id = fields.Many2one('sms.router.send.window', 'Send Window')
    window_name = fields.Char('Window')
    reason = fields.Char('Why')
    recipients_sample = fields.Char('Recipients')


class SmsRouterSendPreviewRecipient(models.TransientModel):
    _name = 'sms.router.send.preview.recipient'
    _description = 'SMS Router: Send Preview Recipient Not Reached'
    _order = 'id'

    preview_id = fields.Many2one('sms.router.send.preview', required=True, ondelete='cascade', index=True)
    res_model = fields.Char()
    res_id = fields.Integer()
    name = fields.Char('Recipient')
    number = fields.Char()
    problem = fields.Selection([
        (UNUSABLE, 'No usable number'), (NO_ROUTE, 'No route'), ('excluded', 'Excluded'),
    ])
    reason = fields.Char('Why')

"""Send windows: the days and hours, in the destination's local time, when a company's SMS
may be sent (engine/windows.py decides; these records configure it).

A company has no rule by default: nothing changes for it. Presets are dated templates of
what a charter or a provider asks (e.g. the French operators' association AF2M for
marketing SMS): applying one creates an ordinary rule of the company, which the company
then owns and may edit. Presets are data, not law: each names its source and date.
"""
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..engine.windows import (
    TRAFFIC_ALL, TRAFFIC_MARKETING, TRAFFIC_TRANSACTIONAL, WindowGate, WindowRule, parse_ranges,
)

WEEKDAY_FIELDS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
# What a preset gives the rule made from it.
PRESET_FIELDS = ('traffic', 'country_ids', 'hours', 'exclude_holidays', 'description') + WEEKDAY_FIELDS
# Fields of a rule whose change cannot change when an SMS may go.
NOT_SCHEDULING_FIELDS = {'name', 'description', 'preset_id'}


class SmsRouterSendWindowMixin(models.AbstractModel):
    _name = 'sms.router.send.window.mixin'
    _description = 'SMS Router: Send Window Values'

    traffic = fields.Selection(
        [(TRAFFIC_MARKETING, 'Marketing'), (TRAFFIC_TRANSACTIONAL, 'Transactional'), (TRAFFIC_ALL, 'All SMS')],
        required=True, default=TRAFFIC_MARKETING,
        help='Which SMS the window holds back: marketing SMS (mass SMS mailings), transactional '
             'SMS (reminders, codes) or both.')
    country_ids = fields.Many2many(
        'res.country', string='Destination Countries',
        help="Countries of the destination number (as read from the number itself). Empty: every "
             "country. For a destination, the rules naming its country replace the rules for "
             "every country.")
    mon = fields.Boolean('Monday', default=True)
    tue = fields.Boolean('Tuesday', default=True)
    wed = fields.Boolean('Wednesday', default=True)
    thu = fields.Boolean('Thursday', default=True)
    fri = fields.Boolean('Friday', default=True)
    sat = fields.Boolean('Saturday', default=True)
    sun = fields.Boolean('Sunday')
    hours = fields.Char(
        required=True, default='08:00-20:00',
        help="Allowed hours in the recipient's local time, e.g. \"08:00-20:00\" or "
             "\"09:00-12:00, 14:00-19:00\" (24:00 for midnight at the end of the day). A number "
             "that may be in several time zones is sent only when every one of them allows it.")
    exclude_holidays = fields.Boolean(
        'Not on Public Holidays', default=True,
        help='No sending on the national public holidays of the destination country (as the '
             '"holidays" library knows them), whatever the weekday.')
    description = fields.Text(
        'Source', help='Where the rule comes from and its date (charter, provider terms, contract...).')
    days_summary = fields.Char('Days', compute='_compute_days_summary')

    @api.depends(*WEEKDAY_FIELDS)
    def _compute_days_summary(self):
        labels = {name: self._fields[name]._description_string(self.env)[:3] for name in WEEKDAY_FIELDS}
        for window in self:
            window.days_summary = ', '.join(labels[name] for name in WEEKDAY_FIELDS if window[name]) or False

    @api.constrains('hours')
    def _check_hours(self):
        for window in self:
            try:
                parse_ranges(window.hours or '')
            except ValueError as error:
                raise ValidationError(self.env._(
                    '"%(hours)s" cannot be read as hours (at "%(part)s"): write ranges such as '
                    '08:00-20:00, or 09:00-12:00, 14:00-19:00.', hours=window.hours or '',
                    part=str(error))) from None

    @api.constrains(*WEEKDAY_FIELDS)
    def _check_days(self):
        for window in self:
            if not any(window[name] for name in WEEKDAY_FIELDS):
                raise ValidationError(self.env._(
                    'Send window "%s" allows no day: SMS it governs would never be sent. Tick at '
                    'least one day, or archive it.', window.display_name))

    def _sms_router_weekdays(self):
        self.ensure_one()
        return frozenset(index for index, name in enumerate(WEEKDAY_FIELDS) if self[name])

    def _sms_router_window_rule(self):
        """This record as the engine's WindowRule."""
        self.ensure_one()
        return WindowRule(
            name=self.name, weekdays=self._sms_router_weekdays(), ranges=parse_ranges(self.hours),
            exclude_holidays=self.exclude_holidays, traffic=self.traffic,
            countries=frozenset(self.country_ids.mapped('code')), rule_id=self.id)

    def _sms_router_values(self):
        """The values a preset gives a rule (see PRESET_FIELDS)."""
        self.ensure_one()
        values = {name: self[name] for name in PRESET_FIELDS if name != 'country_ids'}
        values['country_ids'] = [fields.Command.set(self.country_ids.ids)]
        return values


class SmsRouterSendWindowPreset(models.Model):
    """A dated template of a send window (shipped as data, editable), applied to companies."""
    _name = 'sms.router.send.window.preset'
    _inherit = ['sms.router.send.window.mixin']
    _description = 'SMS Router: Send Window Preset'
    _order = 'sequence, id'

    name = fields.Char(required=True, translate=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    rule_count = fields.Integer('Rules', compute='_compute_rule_count')

    def _compute_rule_count(self):
        counts = dict(self.env['sms.router.send.window']._read_group(
            [('preset_id', 'in', self.ids)], ['preset_id'], ['__count']))
        for preset in self:
            preset.rule_count = counts.get(preset, 0)

    def action_apply(self):
        """Create a rule of the current company from this preset and open it."""
        self.ensure_one()
        rule = self.env['sms.router.send.window'].create({
            'name': self.name, 'preset_id': self.id, 'company_id': self.env.company.id,
            **self._sms_router_values(),
        })
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'sms.router.send.window',
            'res_id': rule.id,
            'view_mode': 'form',
            'target': 'current',
        }

    def action_view_rules(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('sms_router.sms_router_send_window_action')
        action['domain'] = [('preset_id', '=', self.id)]
        return action


class SmsRouterSendWindow(models.Model):
    """A company's send window: SMS of its traffic and countries are held in the queue
    outside it and leave when it opens (never dropped, never sent outside it)."""
    _name = 'sms.router.send.window'
    _inherit = ['sms.router.send.window.mixin']
    _description = 'SMS Router: Send Window'
    _order = 'company_id, sequence, id'
    _check_company_auto = True

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one('res.company', required=True, index=True,
                                 default=lambda self: self.env.company)
    preset_id = fields.Many2one(
        'sms.router.send.window.preset', ondelete='set null',
        help='The preset this rule was made from. Choosing one fills the rule with its values, '
             'which stay editable here; changing the preset later does not change the rule.')

    @api.onchange('preset_id')
    def _onchange_preset_id(self):
        if self.preset_id:
            values = self.preset_id._sms_router_values()
            values['country_ids'] = self.preset_id.country_ids
            self.update(values)
            if not self.name:
                self.name = self.preset_id.name

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        # A country's rule replaces the rules for every country: a new rule may open earlier.
        self._sms_router_release_waiting(rules.company_id)
        return rules

    def write(self, vals):
        result = super().write(vals)
        if set(vals) - NOT_SCHEDULING_FIELDS:
            self._sms_router_release_waiting(self.company_id)
        return result

    def unlink(self):
        self._sms_router_release_waiting(self.company_id)
        return super().unlink()

    @api.model
    def _sms_router_release_waiting(self, companies):
        """After a change of ``companies``' rules, the SMS waiting for one of their send
        windows are due at once: the queue's next batch decides their wait again with the
        rules as they are now (a rule that opens earlier, is archived or deleted releases
        them; one that still holds them makes them wait again)."""
        if not companies:
            return
        windows = self.with_context(active_test=False).sudo().search([('company_id', 'in', companies.ids)])
        waiting = self.env['sms.sms'].sudo().search([
            ('state', '=', 'outgoing'), ('sms_router_window_id', 'in', windows.ids),
            ('sms_router_not_before', '!=', False)])
        if waiting:
            waiting.write({'sms_router_not_before': False})
            self.env.ref('sms.ir_cron_sms_scheduler_action').sudo()._trigger()

    @api.model
    def _sms_router_gate(self, company, now):
        """The WindowGate of ``company``'s active rules at ``now`` (aware UTC): read once per
        batch; a company without rules gets an empty gate (one query, nothing else)."""
        rules = self.sudo().search([('company_id', '=', company.id)])
        return WindowGate([rule._sms_router_window_rule() for rule in rules], now)

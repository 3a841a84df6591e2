from odoo import models


class SmsComposer(models.TransientModel):
    _inherit = 'sms.composer'

    def _prepare_mass_sms_values(self, records):
        results = super()._prepare_mass_sms_values(records)
        for record in records:
            company = record.company_id if 'company_id' in record._fields else False
            if company and record.id in results:
                results[record.id]['sms_router_company_id'] = company.id
        return results

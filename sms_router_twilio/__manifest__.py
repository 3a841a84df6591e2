{
    'name': 'SMS Router: Twilio',
    'version': '19.0.1.0.0',
    'summary': 'Twilio accounts in the SMS router failover chains: sender per destination '
               'country, delivery reports, STOP replies, failover when Twilio refuses',
    'category': 'Marketing/SMS',
    'author': 'SMS Router developers',
    'license': 'LGPL-3',
    'depends': ['sms_router'],
    'external_dependencies': {'python': ['requests', 'phonenumbers']},
    'data': [
        'security/ir.model.access.csv',
        'security/sms_router_twilio_security.xml',
        'views/sms_router_account_views.xml',
    ],
    'demo': [
        'demo/sms_router_twilio_demo.xml',
    ],
    'installable': True,
    'application': False,
}

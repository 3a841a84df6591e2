{
    'name': 'SMS Router: Twilio',
    'version': '19.0.1.1.0',
    'summary': 'Twilio accounts in the SMS router failover chains: sender per destination '
               'country, delivery reports, STOP replies, failover when Twilio refuses',
    'development_status': 'Beta',
    'category': 'Marketing/SMS',
    'website': 'https://sms-router.example.org',
    'author': 'SMS Router developers',
    'maintainers': ['sms-router-developers'],
    'license': 'LGPL-3',
    'depends': ['sms_router'],
    'external_dependencies': {'python': ['requests>=2.25', 'phonenumbers>=8.12']},
    'data': [
        'security/ir.model.access.csv',
        'security/sms_router_twilio_security.xml',
        'data/ir_cron_data.xml',
        'views/sms_router_account_views.xml',
    ],
    'demo': [
        'demo/sms_router_twilio_demo.xml',
    ],
    'installable': True,
    'application': False,
}

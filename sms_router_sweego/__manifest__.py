{
    'name': 'SMS Router: Sweego',
    'version': '19.0.1.1.0',
    'summary': 'Sweego accounts for the SMS router: batched sending with failover, credit '
               'and expiry, signed delivery reports and STOP replies',
    'development_status': 'Beta',
    'category': 'Marketing/SMS',
    'website': 'https://sms-router.example.org',
    'author': 'SMS Router developers',
    'maintainers': ['sms-router-developers'],
    'license': 'LGPL-3',
    'depends': ['sms_router'],
    'external_dependencies': {'python': ['requests>=2.25']},
    'data': [
        'security/ir.model.access.csv',
        'security/sms_router_sweego_security.xml',
        'views/sms_router_account_views.xml',
        'views/sms_router_sweego_event_views.xml',
    ],
    'demo': [
        'demo/sms_router_sweego_demo.xml',
    ],
    'installable': True,
    'application': False,
}

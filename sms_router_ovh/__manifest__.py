{
    'name': 'SMS Router: OVHcloud',
    'version': '19.0.1.1.0',
    'summary': 'OVHcloud SMS accounts for the SMS router: signed API calls, one job per '
               'batch, credit display, delivery reports by callback and by polling',
    'development_status': 'Beta',
    'category': 'Marketing/SMS',
    'website': 'https://sms-router.example.org',
    'author': 'SMS Router developers',
    'maintainers': ['sms-router-developers'],
    'license': 'LGPL-3',
    'depends': ['sms_router'],
    'external_dependencies': {'python': ['requests>=2.25']},
    'data': [
        'data/ir_cron_data.xml',
        'views/sms_router_account_views.xml',
    ],
    'demo': [
        'demo/sms_router_ovh_demo.xml',
    ],
    'installable': True,
    'application': False,
}

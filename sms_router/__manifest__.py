{
    'name': 'SMS Router',
    'version': '19.0.1.0.0',
    'summary': 'Route every SMS by company and destination through a failover chain of '
               'provider accounts guarded by circuit breakers',
    'category': 'Marketing/SMS',
    'author': 'SMS Router developers',
    'license': 'LGPL-3',
    'depends': ['sms'],
    'external_dependencies': {'python': ['requests', 'phonenumbers', 'pybreaker']},
    'data': [
        'security/sms_router_security.xml',
        'security/ir.model.access.csv',
        'data/ir_cron_data.xml',
        'wizard/sms_router_test_sms_views.xml',
        'views/sms_router_account_views.xml',
        'views/sms_router_route_views.xml',
        'views/sms_router_attempt_views.xml',
        'views/sms_sms_views.xml',
        'views/res_config_settings_views.xml',
        'views/sms_router_menus.xml',
    ],
    'demo': [
        'demo/sms_router_demo.xml',
    ],
    'installable': True,
    'application': False,
}

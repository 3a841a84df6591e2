{
    'name': 'SMS Router',
    'version': '19.0.1.1.0',
    'summary': 'Route every SMS by company and destination through a failover chain of '
               'provider accounts guarded by circuit breakers',
    'development_status': 'Beta',
    'category': 'Marketing/SMS',
    'website': 'https://sms-router.example.org',
    'author': 'SMS Router developers',
    'maintainers': ['sms-router-developers'],
    'license': 'LGPL-3',
    'depends': ['mail', 'sms'],
    # holidays: the public holidays of the destination country, for the send windows;
    # jsonpath-ng: the JSON paths of the HTTP API provider's answers and delivery reports
    'external_dependencies': {'python': ['requests>=2.25', 'phonenumbers>=8.12', 'pybreaker>=1.0',
                                         'holidays>=0.40', 'jsonpath-ng>=1.5']},
    'data': [
        'security/sms_router_security.xml',
        'security/ir.model.access.csv',
        'security/sms_router_quality_security.xml',
        'data/ir_cron_data.xml',
        'data/sms_router_quality_data.xml',
        'data/sms_router_send_window_preset_data.xml',
        'wizard/sms_router_test_sms_views.xml',
        'wizard/sms_router_breaker_force_open_views.xml',
        'wizard/sms_router_route_tester_views.xml',
        'wizard/sms_composer_views.xml',
        'wizard/sms_router_send_preview_views.xml',
        'views/sms_router_account_views.xml',
        'views/sms_router_account_http_api_views.xml',
        'views/sms_router_route_views.xml',
        'views/sms_router_route_strategy_views.xml',
        'views/sms_router_send_window_views.xml',
        'views/sms_router_attempt_views.xml',
        'views/sms_router_overview_views.xml',
        'views/sms_router_alert_views.xml',
        'views/sms_sms_views.xml',
        'views/res_config_settings_views.xml',
        'views/sms_router_menus.xml',
        'views/sms_router_quality_views.xml',
        'views/sms_router_price_views.xml',
        'views/sms_router_cost_views.xml',
    ],
    'demo': [
        'demo/sms_router_demo.xml',
    ],
    'assets': {
        'web.assets_backend': [
            'sms_router/static/src/**/*',
        ],
        # The operator tours (tests/test_router_tours.py)
        'web.assets_tests': [
            'sms_router/static/tests/tours/**/*',
        ],
    },
    'installable': True,
    'application': False,
}

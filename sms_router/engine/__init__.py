"""Framework-free core of the router: routing, breakers, failover, HTTP plumbing.

Nothing in this package imports Odoo; the addon's models translate records into these plain
values, call the engine, and write the results back.
"""

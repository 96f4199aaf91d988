"""tests.unit.waylay"""

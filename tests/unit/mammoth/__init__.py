"""tests.unit.mammoth"""

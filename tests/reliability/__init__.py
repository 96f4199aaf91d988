"""tests.reliability"""

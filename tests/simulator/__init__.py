"""tests.simulator"""

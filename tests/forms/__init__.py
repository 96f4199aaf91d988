"""tests.forms"""

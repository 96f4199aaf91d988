"""tests.docs"""

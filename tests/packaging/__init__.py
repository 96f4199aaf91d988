"""tests.packaging"""

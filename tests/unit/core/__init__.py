"""tests.unit.core"""

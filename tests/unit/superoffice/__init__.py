"""tests.unit.superoffice"""

"""tests.dags"""

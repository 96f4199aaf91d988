"""One test file per core module, run against the made-up service in ``tests/support/fake_service.py``."""

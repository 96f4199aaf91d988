"""Benchmarks of airflow-provider-batchops against the bundled simulator on loopback (``make bench``)."""

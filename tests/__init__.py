"""The test suite, a package: support code is imported as ``tests.support.<module>`` (see
docs/architecture.md, "Tests"), and test files of the same name in different folders do not clash."""

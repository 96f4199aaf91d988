"""What tests share: helpers, the simulator fixtures, the conformance oracle, the reliability report,
the end-to-end harness and the made-up Widgets service the core unit tests run against."""

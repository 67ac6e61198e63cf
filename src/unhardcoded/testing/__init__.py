"""Fakes shipped with the package: simulated upstream providers for the demo, tests and users' own tests."""

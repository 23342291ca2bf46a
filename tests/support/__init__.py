"""Helpers and fixtures shared by the test suites; the fixture modules are registered in tests/conftest.py."""

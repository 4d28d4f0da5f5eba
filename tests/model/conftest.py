"""Model tests use the tiny trained model fixtures from tests/conftest.py."""

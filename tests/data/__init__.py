"""Fixtures of the dataset-layer tests (tests/test_data_*.py)."""

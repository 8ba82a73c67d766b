"""One exception hierarchy a caller can catch precisely (httpx-style).

Every message says what was wrong, where (file, line, sample id, role) and what to do.
"""

from __future__ import annotations


class IntersynError(Exception):
    """Base of every error intersyn raises on purpose."""


class ConfigError(IntersynError):
    """A run config, rubric, hierarchy or template file is invalid (names the file and field)."""


class InputError(IntersynError):
    """User data (JSONL, Parquet, images, ratings) is malformed; names file, line or sample."""


class DatasetError(IntersynError):
    """A dataset or run directory is inconsistent or cannot be written."""


class UnsafePathError(InputError):
    """A path escapes the dataset root (``../x``, an absolute path, a symlink out)."""


class ModelError(IntersynError):
    """A model call failed after retries; names role, endpoint, model and sample."""


class BudgetExceeded(IntersynError):
    """The configured spending budget was reached; the run stops cleanly with work kept."""


class ParseError(IntersynError):
    """A model reply could not be parsed into the expected structure."""

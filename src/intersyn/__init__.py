"""intersyn: interleaved image–text instruction data with SEIR, judged with SynJudge's four scores.

The public surface is small; see README.md for the commands.
"""

from intersyn.errors import IntersynError
from intersyn.schema import (
    DIMENSIONS,
    SCHEMA_VERSION,
    ImageRef,
    Judgement,
    Rating,
    Round,
    Sample,
    TopicPath,
    Turn,
)

__version__ = "0.1.0"

__all__ = [
    "DIMENSIONS",
    "SCHEMA_VERSION",
    "ImageRef",
    "IntersynError",
    "Judgement",
    "Rating",
    "Round",
    "Sample",
    "TopicPath",
    "Turn",
    "__version__",
]

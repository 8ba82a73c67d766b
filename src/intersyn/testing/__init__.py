"""Test doubles users and tests can drive intersyn with: never a default of the product.

:class:`ScriptedServer` is an OpenAI-compatible HTTP server on 127.0.0.1 with latency,
capacity, injected :class:`Faults` and scripted or rule-based replies.
"""

from intersyn.testing.schema_instance import schema_instance
from intersyn.testing.server import Faults, ScriptedServer, ServerStats, default_reply

__all__ = ["Faults", "ScriptedServer", "ServerStats", "default_reply", "schema_instance"]

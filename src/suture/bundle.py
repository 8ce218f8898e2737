"""The one artifact format: every profile, contract, recommender and model suture saves.

This module owns how suture writes and reads artifacts: atomic outputs (see
:func:`atomic_outputs`) now; the manifest with per-part SHA-256, version checks and
verification on load are added here by the joints work.
"""

from __future__ import annotations

from suture._atomic import atomic_outputs, check_output, write_bytes_atomic

__all__ = ["atomic_outputs", "check_output", "write_bytes_atomic"]

"""Test configuration: hypothesis profiles chosen by PERFCORE_HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# tests import helpers (kernel_oracle) from this directory
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak", max_examples=10_000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("PERFCORE_HYPOTHESIS_PROFILE", "dev"))

"""The reference suite: live comparisons against PyTorch + HuggingFace transformers.

Skipped as a whole in the plain test run (no torch installed). ``.ci/run`` installs
``pip install -e .[reference]`` and runs ``pytest tests/reference``.
"""

import pytest

pytest.importorskip("torch", reason="reference suite needs torch: pip install -e .[reference]")
pytest.importorskip("transformers", reason="reference suite needs transformers: pip install -e .[reference]")

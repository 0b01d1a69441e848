"""``python -m skrobust report``: a robustness report for a saved model.

Small modules: reading files (``_load``), the threat-model file
(``_threat_file``), attack choice (``_attacks``), the numbers
(``_evaluate``), figures (``_figures``) and the written report (``_write``).
"""

from ._cli import main

__all__ = ["main"]

"""What every verb module shares: the one-line usage-error parser and the --json printer.

The dispatcher itself (``edgecnn.cli``) lives outside ``edge/``: it also registers the ``train`` and
``convert`` verbs, which the device never imports.
"""

from __future__ import annotations

import argparse
import json
import sys


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2 (``--help`` still prints the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def fail(message: str) -> int:
    print(f"edgecnn: error: {message}", file=sys.stderr)
    return 2


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the --json convention)."""
    print(json.dumps(obj, allow_nan=False, default=_json_default), flush=True)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

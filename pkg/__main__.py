"""``python -m edgecnn``: the ``edgecnn`` command."""

import sys

from edgecnn.cli import main

sys.exit(main())

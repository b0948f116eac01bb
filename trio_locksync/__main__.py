"""``python -m trio_locksync demo``: the same as the ``trio-locksync`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m trio_locksync demo``: the simulated site."""

import sys

from ._demo import main

sys.exit(main())

"""``python -m orchestrator.cli``: the same as ``orch`` (Ray jobs and the tests start it so)."""

import sys

from orchestrator.cli import main

sys.exit(main())

"""`python -m tools.replay ...` runs the same CLI as the `personalize-runs` console script."""

import sys

from tools.replay.cli import main

sys.exit(main())

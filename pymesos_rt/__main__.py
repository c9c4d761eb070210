"""``python -m pymesos_rt``: the command line."""

import sys

from pymesos_rt.cli import main

sys.exit(main())

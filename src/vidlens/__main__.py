"""``python -m vidlens`` runs the command line (and lets torchrun start it)."""

import sys

from vidlens.cli import main

sys.exit(main())

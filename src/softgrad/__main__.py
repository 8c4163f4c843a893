"""``python -m softgrad`` runs the command-line interface."""

import sys

from softgrad.cli import main

sys.exit(main())

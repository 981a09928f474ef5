"""`python -m engine.cli` (what torchrun launches) runs the command-line interface."""

import sys

from engine.cli import main

sys.exit(main())

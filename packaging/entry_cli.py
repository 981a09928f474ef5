"""The bundle's `transfer-studio` executable: the command-line interface (engine.cli).

freeze_support() lets multiprocessing children (DataLoader workers under the spawn or
forkserver start methods) re-enter this executable without running the CLI again.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from engine.cli import main

    sys.exit(main())

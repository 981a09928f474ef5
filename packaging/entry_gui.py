"""The bundle's `transfer-studio-gui` executable: the desktop app (desktop_app.app)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop_app.app import main

    sys.exit(main())

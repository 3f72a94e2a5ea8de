"""Entry point of the PyInstaller bundle: the same as the ``trayjobs`` command.

The bundle's executable also runs job processes (``trayjobs --trayjobs-child``,
see ``trayjobs.engine.executor.child_command``), so nothing else may happen at
import time here.
"""

import sys

from trayjobs.__main__ import main

if __name__ == "__main__":
    sys.exit(main())

"""The Qt user interface: tray icon, window and dialogs. Imports the core; never the reverse."""

from .compat import lean_feature_scan

import PySide6  # noqa: E402, F401  (the hook to replace comes with it)

lean_feature_scan()  # before the first Qt module: see compat.py

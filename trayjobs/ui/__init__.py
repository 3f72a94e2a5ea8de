"""The Qt user interface: tray icon, window and dialogs. Imports the core; never the reverse."""

"""The shared kernel: settings, models, sessions and migrations used by the API and the device gateway."""

"""The staff-facing pages."""

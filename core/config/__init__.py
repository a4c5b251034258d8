"""Settings: every field and its validation, where settings are read from, and the presets."""

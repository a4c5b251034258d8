"""Settings: the rules' settings and the deployment's, their validation, where they are read
from, and the presets."""

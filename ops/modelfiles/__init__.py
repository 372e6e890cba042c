"""Model files: the manifest, the version pins of the training environment, the demo model."""

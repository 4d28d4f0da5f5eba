"""Sub-commands of the ``moodwatch`` command line, one module per group."""

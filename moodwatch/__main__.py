"""``python -m moodwatch`` is the same as the ``moodwatch`` command."""

from moodwatch.cli import main

main()

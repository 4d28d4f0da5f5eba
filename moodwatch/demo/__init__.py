"""The first run: ``moodwatch demo`` starts every service and replays a story through them."""

"""moodwatch: sentiment and topic monitoring for text streams."""

__version__ = "0.1.0"

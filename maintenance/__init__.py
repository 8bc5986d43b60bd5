"""Scheduled upkeep of the app's data, as timer-triggered functions."""

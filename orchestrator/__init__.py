"""The parallel coordinator."""

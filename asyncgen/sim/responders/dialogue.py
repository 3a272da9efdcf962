"""Simulator responders for the dialogue prompt kinds."""

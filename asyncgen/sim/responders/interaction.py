"""Simulator responders for the interaction prompt kinds."""

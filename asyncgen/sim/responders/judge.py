"""Simulator responders for the judge prompt kinds."""

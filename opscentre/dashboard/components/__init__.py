"""Dash components shared by the operator console and the public view."""

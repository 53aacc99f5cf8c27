"""Notifications: the durable outbox (the seam), and the channels that drain it."""

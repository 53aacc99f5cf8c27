"""Public documents rendered from the city's state: pure functions, no Flask, no Redis.

public_alerts.py: which alerts the public sees; cap.py: one CAP 1.2 message per public alert;
cap_area.py: bairro polygons as CAP areas; atom.py: the Atom index of the CAP messages.
"""

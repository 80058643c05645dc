"""Alerts: the rules and their limits per vendor, the engine that raises and clears them, and the incident
policy (which alerts become incidents, shifts and their figures)."""

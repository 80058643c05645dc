"""Telemetry: the sample model, the readings' rings and minutes, the fleet model and its views, the slow
path's health report and the counters an acknowledgement records: what the console knows of each node
and accelerator now."""

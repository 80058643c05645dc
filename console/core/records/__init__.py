"""Records: the audit store and the incident log, the telemetry archive and its roll-up, the handover and
tenant reports and every export. The only code that speaks SQL."""

"""Convergence steps beyond configuration keys: each converges one aspect of a charger.

The reconciler runs configuration, availability and reboots itself; everything else that a
charger must be brought to (charging profiles from power limits, the local authorisation
list, firmware) is a `Step`, so each lives in its own module with its own tests and the
reconciler stays a scheduler.
"""

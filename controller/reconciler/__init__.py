"""The reconciler: which charger is converged when, and which steps run for it.

A scheduler only: what each step does to a charger lives in `controller.converge`.
"""

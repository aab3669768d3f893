"""The fleet as declared: YAML with source positions, fleet-wide validation and resolution.

`loading` reads files into resources (with file, line and column for every problem),
`validation` checks the fleet as a whole, `checking` runs both as `chargectl validate` does,
and `model` is the validated `Fleet` with each charger's resolved desired state.
"""

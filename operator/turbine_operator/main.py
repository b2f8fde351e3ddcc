"""kopf entry point: `kopf run -m turbine_operator.main` (what `turbine-operator run` does)."""

from turbine_operator.handlers import lifecycle, stacks

__all__ = ["lifecycle", "stacks"]

"""kopf entry point: `kopf run -m turbine_operator.main` (what `turbine-operator run` does)."""

from turbine_operator.handlers import lifecycle, references, stacks

__all__ = ["lifecycle", "references", "stacks"]

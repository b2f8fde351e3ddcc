"""kopf handlers: thin wiring from Kubernetes events to the operations."""

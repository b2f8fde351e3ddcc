"""One TurbineStack's stack: reconcile, deletion, what its spec references, its tenant's grant, drift and
the outputs ConfigMap."""

"""The Kubernetes adapter: referenced ConfigMaps and Secrets (read and watched by name), reconcile requests,
events and the Lease."""

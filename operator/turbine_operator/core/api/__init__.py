"""The TurbineStack API: the spec and status models declared once, the CRD generated from them, the
conditions kstatus, Flux and ArgoCD read, and how a manifest's errors are named for the user."""

"""What the user sees of a planned action: status, events and the outputs ConfigMap."""

"""What AWS reported about a stack, as plain values: the facts every decision above reads."""

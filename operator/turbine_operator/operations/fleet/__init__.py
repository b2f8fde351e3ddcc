"""Operator-wide work over every stack: the fleet listing, worker figures, leadership, AWS rate limits, the
AMI cache and what a written status changes besides the object."""

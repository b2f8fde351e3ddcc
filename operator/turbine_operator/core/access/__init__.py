"""Who may do what: whose stack it is, what a namespace is granted, and which IAM the user's policies and
templates may carry."""

"""Desired versus observed, to the one next action: drift, the account a stack lives in, when to look
again and which replica acts."""

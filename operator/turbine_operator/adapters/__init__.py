"""Adapters: the only code that touches AWS, the file system and the environment."""

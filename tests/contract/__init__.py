"""Helpers that read the CRD, shared by the tests that hold the spec model to it."""

"""Judging an exchange: the error-kind vocabulary, the built-in rules."""

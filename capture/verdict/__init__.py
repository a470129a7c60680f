"""Judging an exchange: judge() -> Verdict, the complete ErrorKind, exception kinds, rules."""

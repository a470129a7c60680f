"""Whole-process suites: faults, storage, interrupts, security, processes, paths."""

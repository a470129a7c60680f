"""Diagnosis: from a run's failures to ranked findings with evidence. Pure: the store
gathers a RunEvidence (capture/store/diagnose_data.py), detect() reads it."""

from capture.diagnose.detect import detect
from capture.diagnose.model import Failure, Finding, RunEvidence

__all__ = ["Failure", "Finding", "RunEvidence", "detect"]

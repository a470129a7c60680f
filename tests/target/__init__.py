"""Tests of capture.target."""

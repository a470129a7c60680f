"""Locust users for the bench: no wait time, one GET of BENCH_PATH (default /ok) per task."""

from __future__ import annotations

import os

from locust import FastHttpUser, HttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/ok")


class PlainHttpUser(HttpUser):
    """requests-based client (locust.clients.HttpSession), one session per user."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get(PATH)


class FastUser(FastHttpUser):
    """geventhttpclient-based client."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get(PATH)

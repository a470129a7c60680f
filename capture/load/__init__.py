"""One run: the runner, the worker loop, processes, the session pool, the wire, hooks."""

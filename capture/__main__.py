"""python -m capture."""

from capture.cli.main import entry_point

if __name__ == "__main__":  # not when multiprocessing's spawn re-imports it (--procs)
    entry_point()

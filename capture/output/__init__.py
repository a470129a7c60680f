"""Pure formatters: rows and summaries in, lines, tables or documents out.

tables (row listings and Format), exchange (`show`), summary (`capture summary`),
run_summary (the end of `capture run`), live (progress while it runs), har (`export`),
and the shared cells (outcome, short URL) and units (one spelling per unit).
Nothing here imports capture.load: a run's data types come from capture.results.
"""

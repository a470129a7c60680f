"""Pure formatters: rows and summaries in, lines, tables or files out."""

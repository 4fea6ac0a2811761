"""Print jobs and their rules, free of I/O."""

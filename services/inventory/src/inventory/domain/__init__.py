"""Stock rules, free of I/O."""

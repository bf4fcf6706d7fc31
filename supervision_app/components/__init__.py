"""Component functions: layout, badges and tables; they do no I/O and read no clock."""

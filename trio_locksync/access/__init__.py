"""Access plans: grants, windows, schedules and use limits over many locks' engines."""

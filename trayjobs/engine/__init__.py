"""The engine: dispatch, execution in child processes, retries, schedules, recovery."""

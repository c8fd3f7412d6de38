"""Time: APScheduler (3.x) jobs that sweep the database and call domain services."""

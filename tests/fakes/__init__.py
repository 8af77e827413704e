"""In-memory fakes of the project's own ports, for tests."""

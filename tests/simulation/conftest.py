def pytest_configure(config):
    config.addinivalue_line("markers", "simulation: the seeded whole-system simulation (CI: once, in the "
                                       "PostgreSQL pass; bin/soak for full counts)")

"""``rayop api``: a REST API over rayop's kinds for CI systems that do not speak Kubernetes (see app.py)."""

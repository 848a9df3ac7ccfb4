"""Generate rayop's CustomResourceDefinitions from the pydantic models in :mod:`rayop.api`."""

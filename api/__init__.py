"""The HTTP API: FastAPI app, routes, schemas and services."""

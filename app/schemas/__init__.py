"""Pydantic contract models shared by the API and the services."""

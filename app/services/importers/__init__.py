"""List importers: one parser module per published layout, and the shared import service."""

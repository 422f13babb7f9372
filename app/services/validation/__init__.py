"""Catalogue validation: pure rules, set-based SQL for catalogue-wide rules, runner, stored runs."""

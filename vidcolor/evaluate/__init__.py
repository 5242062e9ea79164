"""Measuring instruments: quality metrics (pure), the eval runner and the bench runner."""

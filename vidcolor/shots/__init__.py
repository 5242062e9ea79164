"""Shots: cut detection, the shot files people edit, and which reference colours each shot."""

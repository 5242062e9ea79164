"""`vidcolor review`: a shot review page people open in a browser (gather.py, build.py, page.py, page.html)."""

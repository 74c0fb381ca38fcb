"""The benchmark (``make bench``) and its reference servers."""

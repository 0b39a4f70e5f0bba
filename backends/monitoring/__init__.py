"""Files for Prometheus that `up` writes on the machine that runs it (components/monitoring.py)."""

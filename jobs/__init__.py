"""RQ jobs: module-level functions that take ids, re-read state and are safe to run twice."""

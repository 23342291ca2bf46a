"""`make bench`: load tests of both services against their own ceilings."""

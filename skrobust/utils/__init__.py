"""Small private helpers shared by skrobust's modules."""

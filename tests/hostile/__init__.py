"""Hostile files: the table of cases (cases.tsv) and the makers of the generated ones."""

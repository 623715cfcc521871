"""`amazon-sync`: the operator's command line for prestashop-amazon-sync."""

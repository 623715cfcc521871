"""prestashop-amazon-sync: keeps a PrestaShop shop's stock and prices on Amazon in step."""

__version__ = "0.1.0"

"""Shipped data: grammar/, schemas/ and rules/ are mapped here in an installed wheel."""

"""The business: customers, phone numbers, conversation state and (later) orders, offers and points.

Framework-free. The rules (plain modules at this level) never import the persistence package.
"""

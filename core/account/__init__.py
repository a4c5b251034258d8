"""The owner's account read through an exchange: the priced snapshot and the cost basis."""

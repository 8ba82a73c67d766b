"""seir."""

"""The built-in personalities, installed through the same entry points as anyone's."""

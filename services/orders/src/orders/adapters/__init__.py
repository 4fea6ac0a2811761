"""How the orders service talks to the world."""

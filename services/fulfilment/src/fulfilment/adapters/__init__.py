"""How the fulfilment service talks to the world: MongoDB and carriers."""

"""Page routes, one module per subject; each calls the same services as the API's route of that subject."""

"""What every stage shares: the model contract and image preprocessing (numpy + Pillow only)."""

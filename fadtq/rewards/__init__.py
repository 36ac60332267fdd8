"""Pure reward functions of FAD-TQ (DESIGN §1): parsing, format, accuracy, thinking quality, focal."""

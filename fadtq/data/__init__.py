"""Pure data layer: MVTec LOCO / MVTec-AD / VisA scanning, Pair3C split, verl parquet rows, prompts."""

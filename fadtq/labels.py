"""Class labels shared by the data builders, the rewards and the metrics (pure core)."""

NORMAL = "normal"
STRUCTURAL = "structural"
LOGICAL = "logical"

#: Pair3C's three classes, in the order used for tables and confusion matrices.
PAIR3C_LABELS: tuple[str, ...] = (NORMAL, STRUCTURAL, LOGICAL)

#: MVTec LOCO AD test folder -> Pair3C label.
LOCO_FOLDER_TO_LABEL: dict[str, str] = {
    "good": NORMAL,
    "structural_anomalies": STRUCTURAL,
    "logical_anomalies": LOGICAL,
}

#: Binary labels of the MVTec-AD / VisA builders.
ANOMALOUS = "anomalous"
BINARY_LABELS: tuple[str, ...] = (NORMAL, ANOMALOUS)

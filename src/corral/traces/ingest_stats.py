"""Counters of what ingest did with the spans it accepted, read by `/metrics` at scrape time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from corral.traces.ingest import BuiltRows

KEY_ACTION_LABEL = "key_action"
"""Redactions by attribute key are counted under one label: keys are free text."""


@dataclass
class IngestStats:
    sampled_out: int = 0
    unknown_models: Counter[str] = field(default_factory=Counter)
    redactions: Counter[str] = field(default_factory=Counter)

    def record(self, built: BuiltRows) -> None:
        """Count one request's outcome; call it only once its spans were queued."""
        self.sampled_out += built.sampled_out
        self.unknown_models.update(built.unknown_models)
        for detector, count in built.redactions.items():
            label = KEY_ACTION_LABEL if detector.startswith("key:") else detector
            self.redactions[label] += count

"""Kafka topic names (CONTRACT §3) and the platform's internal topics, with an optional prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def events(self) -> str:
        return f"{self.prefix}city.events"

    @property
    def rejected(self) -> str:
        return f"{self.prefix}city.events.rejected"

    @property
    def incidents(self) -> str:
        return f"{self.prefix}city.incidents"

    def tasks(self, department: str) -> str:
        return f"{self.prefix}city.tasks.{department}"

    @property
    def bundles(self) -> str:
        # Internal: validated events packed per partition for the incident engine.
        return f"{self.prefix}cityops.internal.bundles"

    @property
    def readings(self) -> str:
        # Internal: validated sensor readings and feed heartbeats for the early-warning agent.
        return f"{self.prefix}cityops.internal.readings"

    @property
    def claims(self) -> str:
        # Internal: valid resident-unit claim events, as received, for the claims consumer.
        return f"{self.prefix}cityops.internal.claims"

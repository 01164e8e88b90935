"""The staff console (`jinjian serve`): see ``jinjian.console.app``."""

from jinjian.console.app import create_app

__all__ = ["create_app"]

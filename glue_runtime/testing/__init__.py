"""Helpers for testing code built on glue_runtime (like singer_sdk.testing): a real OAuth2
provider and API on 127.0.0.1 (:mod:`glue_runtime.testing.oauth_provider`)."""

from glue_runtime.testing.oauth_provider import OAuthProvider

__all__ = ["OAuthProvider"]

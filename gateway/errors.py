"""The one exception hierarchy of kefu-gateway.

Our exception hierarchy::

    * GatewayError
      x ConfigError              (also ValueError)       start-up: bad env or accounts file
      x AdapterError                                      refusals of inbound requests
        + UnknownAccount         (also LookupError)       -> 404
        + SignatureError                                  -> 401  (never says which check failed)
        + ReplayError            (SignatureError)         -> 401  stale timestamp or replayed nonce
        + DecryptError           (SignatureError)         -> 401  bad ciphertext or receive-id
        + PayloadError           (also ValueError)        -> 400  malformed body
        + PayloadTooLarge        (PayloadError)           -> 413
        + UnsupportedMediaType   (PayloadError)           -> 415
      x PublishError                                      hand-off to RabbitMQ failed
        + BrokerUnavailable      (also ConnectionError)   -> 503, the platform retries
        + Unroutable                                      -> 503, a topology bug: nothing bound
      x StoreError                                        -> 503, the database is unreachable
      x AdminError                                        admin API refusals
        + Unauthorized                                    -> 401 (403 when no token is configured)
        + InvalidRequest         (also ValueError)        -> 422 with the validation errors
        + NotFound               (also LookupError)       -> 404
        + Conflict                                        -> 409
      x ConsumerError                                     gateway.consumer (downstream services)
        + MalformedMessage       (also ValueError)        a delivery is not the queue's schema
        + InvalidReply           (also ValueError)        a reply would not be gateway.outbound/1

Adapters, the normalizer and rules raise these; only `gateway.webhooks` maps them to HTTP status
codes, in one table. Third-party errors are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AdminError",
    "BrokerUnavailable",
    "ConfigError",
    "Conflict",
    "ConsumerError",
    "DecryptError",
    "GatewayError",
    "InvalidReply",
    "InvalidRequest",
    "MalformedMessage",
    "NotFound",
    "PayloadError",
    "PayloadTooLarge",
    "PublishError",
    "ReplayError",
    "SignatureError",
    "StoreError",
    "Unauthorized",
    "UnknownAccount",
    "Unroutable",
    "UnsupportedMediaType",
]


class GatewayError(Exception):
    """Base class for every error this service raises on purpose."""


class ConfigError(GatewayError, ValueError):
    """The environment or the accounts file is invalid; raised at start-up only."""


class AdapterError(GatewayError):
    """An inbound request is refused."""


class UnknownAccount(AdapterError, LookupError):
    """No account of that platform is configured under the name in the URL."""


class SignatureError(AdapterError):
    """The request is not authentic. The message never says which check failed."""


class ReplayError(SignatureError):
    """The timestamp is outside the replay window, or the nonce was seen before."""


class DecryptError(SignatureError):
    """The ciphertext does not decrypt with the account's keys, or names another receiver."""


class PayloadError(AdapterError, ValueError):
    """The body is malformed: not parseable, missing required fields, too deep."""


class PayloadTooLarge(PayloadError):
    """The body exceeds the configured size limit."""


class UnsupportedMediaType(PayloadError):
    """The body is neither of the formats the endpoint accepts."""


class PublishError(GatewayError):
    """A message could not be handed to RabbitMQ."""


class BrokerUnavailable(PublishError, ConnectionError):
    """No connection to RabbitMQ, or it did not confirm in time."""


class Unroutable(PublishError):
    """RabbitMQ returned a mandatory message: no queue is bound for its routing key."""


class StoreError(GatewayError):
    """The database could not be reached or refused the operation."""


class AdminError(GatewayError):
    """An admin API request is refused."""


class Unauthorized(AdminError):
    """Missing or wrong bearer token, or the admin API is disabled (no token configured)."""

    def __init__(self, message: str, *, disabled: bool = False) -> None:
        super().__init__(message)
        self.disabled = disabled


class InvalidRequest(AdminError, ValueError):
    """The request body or query does not validate; `errors` lists what and where."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class NotFound(AdminError, LookupError):
    """The addressed resource does not exist."""


class Conflict(AdminError):
    """The request conflicts with the current state (duplicate id, limit reached)."""


class ConsumerError(GatewayError):
    """A consumer (`gateway.consumer`) cannot do what was asked: missing queue, settled twice."""


class MalformedMessage(ConsumerError, ValueError):
    """A delivery is not a valid document of the queue's schema (`gateway.message/1`, ...)."""


class InvalidReply(ConsumerError, ValueError):
    """A reply would not validate as `gateway.outbound/1`; nothing was published."""

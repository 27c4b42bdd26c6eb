//! What can go wrong with a broker call, in terms a caller can act on.
//!
//! Every variant maps to one answer the server gives (see ARCHITECTURE.md,
//! "The broker and the simulator"): rejected keys are *not* a sign-in
//! failure, a refused order carries Alpaca's own message, a rate limit
//! carries how long to wait. No variant ever holds the API keys: messages
//! come from Alpaca's error body (`{"code": …, "message": …}`) with the keys
//! scrubbed out, never from the HTTP library (whose errors name URLs).

use crate::types::Order;

/// A failed broker call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokerError {
    /// 401: the broker does not accept this key pair (wrong keys, or paper
    /// keys on the live URL).
    #[error("the broker rejected the API keys")]
    KeysRejected,
    /// 403: refused, e.g. "insufficient buying power".
    #[error("the broker refused: {message}")]
    Forbidden {
        /// Alpaca's message.
        message: String,
    },
    /// 404: no such order, position or asset.
    #[error("not found at the broker: {message}")]
    NotFound {
        /// Alpaca's message.
        message: String,
    },
    /// 422: invalid input or an order Alpaca will not take.
    #[error("the broker refused the request: {message}")]
    Unprocessable {
        /// Alpaca's message.
        message: String,
    },
    /// 400: a parameter the broker does not understand (market data).
    #[error("the broker could not read the request: {message}")]
    BadRequest {
        /// Alpaca's message.
        message: String,
    },
    /// 429 asking for more than a short wait.
    #[error("the broker's rate limit is reached; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the broker takes calls again.
        retry_after_secs: u64,
    },
    /// 5xx, after the tries a call allows.
    #[error("the broker failed (HTTP {status})")]
    Upstream {
        /// The last status.
        status: u16,
    },
    /// No answer within the call's deadline.
    #[error("the broker did not answer in time")]
    Timeout,
    /// No answer: the connection could not be opened, or it broke.
    #[error("the broker could not be reached")]
    Unreachable,
    /// The caller's own client_order_id is already taken; `existing` is the
    /// order that has it.
    #[error("client_order_id {} is already used by order {}", existing.client_order_id, existing.id)]
    DuplicateClientOrderId {
        /// The order with that client_order_id.
        existing: Box<Order>,
    },
    /// A body that is not what Alpaca documents.
    #[error("unexpected answer from the broker: {0}")]
    Decode(String),
    /// Refused before sending: the request itself is not valid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other status.
    #[error("unexpected HTTP {status} from the broker: {message}")]
    UnexpectedStatus {
        /// The status.
        status: u16,
        /// Alpaca's message, or the status's name.
        message: String,
    },
}

impl BrokerError {
    /// The broker's own message, where it gave one.
    pub fn broker_message(&self) -> Option<&str> {
        match self {
            BrokerError::Forbidden { message }
            | BrokerError::NotFound { message }
            | BrokerError::Unprocessable { message }
            | BrokerError::BadRequest { message }
            | BrokerError::UnexpectedStatus { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Replaces every occurrence of `needles` in the texts this error
    /// carries, so a proxy that echoes a header cannot leak a key.
    pub(crate) fn scrub(self, needles: &[&str]) -> BrokerError {
        let clean = |mut s: String| {
            for n in needles.iter().filter(|n| !n.is_empty()) {
                s = s.replace(n, "[redacted]");
            }
            s
        };
        match self {
            BrokerError::Forbidden { message } => BrokerError::Forbidden {
                message: clean(message),
            },
            BrokerError::NotFound { message } => BrokerError::NotFound {
                message: clean(message),
            },
            BrokerError::Unprocessable { message } => BrokerError::Unprocessable {
                message: clean(message),
            },
            BrokerError::BadRequest { message } => BrokerError::BadRequest {
                message: clean(message),
            },
            BrokerError::UnexpectedStatus { status, message } => BrokerError::UnexpectedStatus {
                status,
                message: clean(message),
            },
            BrokerError::Decode(message) => BrokerError::Decode(clean(message)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_keys_from_messages() {
        let e = BrokerError::Forbidden {
            message: "key PKABC with secret s3cr3t refused".into(),
        }
        .scrub(&["PKABC", "s3cr3t", ""]);
        assert_eq!(
            e.to_string(),
            "the broker refused: key [redacted] with secret [redacted] refused"
        );
        assert_eq!(BrokerError::Timeout.scrub(&["x"]), BrokerError::Timeout);
    }
}

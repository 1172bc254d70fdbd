//! [`Case`] and [`Options`]: what a conformance check is told about the provider under test.

use secrecy::SecretString;

use crate::provider::{MAX_RESPONSE_BYTES, ProviderErrorKind};

/// One reference and what the provider should answer.
#[derive(Debug, Clone)]
pub struct Case {
    pub(super) reference: String,
    pub(super) expected: Expected,
}

#[derive(Debug, Clone)]
pub(super) enum Expected {
    Value(SecretString),
    Error(ProviderErrorKind),
    Invalid,
}

impl Case {
    /// `reference` resolves to `value`.
    pub fn value(reference: impl Into<String>, value: impl Into<SecretString>) -> Self {
        Case {
            reference: reference.into(),
            expected: Expected::Value(value.into()),
        }
    }

    /// `reference` passes the offline check but fails to resolve with `kind`.
    pub fn error(reference: impl Into<String>, kind: ProviderErrorKind) -> Self {
        Case {
            reference: reference.into(),
            expected: Expected::Error(kind),
        }
    }

    /// `reference` is malformed: the offline check refuses it.
    pub fn invalid(reference: impl Into<String>) -> Self {
        Case {
            reference: reference.into(),
            expected: Expected::Invalid,
        }
    }
}

/// What else [`check_with`](super::check_with) should know about the provider.
#[derive(Debug, Clone)]
pub struct Options {
    pub(super) credentials: Vec<SecretString>,
    pub(super) max_response_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            credentials: Vec::new(),
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

impl Options {
    /// No credentials to look for; answers capped at [`MAX_RESPONSE_BYTES`].
    pub fn new() -> Self {
        Options::default()
    }

    /// The answer-size cap the provider was built with, when not [`MAX_RESPONSE_BYTES`]:
    /// [`check_hostile`](super::check_hostile) expects it to stop reading an endless answer
    /// soon after.
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// A credential the provider was built with (a token, a password, a key): it must never
    /// show in the provider's `Debug` or in an error.
    #[must_use]
    pub fn credential(mut self, credential: impl Into<SecretString>) -> Self {
        self.credentials.push(credential.into());
        self
    }
}

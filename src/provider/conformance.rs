//! The conformance suite every [`ExternalProvider`] should pass, run through
//! `Arc<dyn ExternalProvider>` as the vault uses it.
//!
//! Give it the provider and a few cases you know the answer to: references that resolve to
//! a known value, references that fail with a known kind, and malformed references. It
//! checks the trait's contract: a stable id and scheme, offline reference checks,
//! `resolve_all` agreeing with `resolve` in order and length, errors that carry their
//! reference, and no value in any `Debug` or error output.
//!
//! ```
//! use std::sync::Arc;
//! use request_vault::provider::conformance::{Case, check};
//! use request_vault::{ExternalProvider, ProviderError, ProviderErrorKind, SecretString, async_trait};
//!
//! #[derive(Debug)]
//! struct Fixed;
//!
//! #[async_trait]
//! impl ExternalProvider for Fixed {
//!     fn id(&self) -> &str { "fixed" }
//!     fn scheme(&self) -> &str { "fixed" }
//!     fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
//!         if reference.starts_with("fixed://") && reference.len() > 8 { return Ok(()); }
//!         Err(ProviderError::invalid_reference("fixed", reference, 0, "expected fixed://NAME"))
//!     }
//!     async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
//!         match reference {
//!             "fixed://answer" => Ok(SecretString::from("forty-two")),
//!             _ => Err(ProviderError::new("fixed", ProviderErrorKind::NotFound, "no such name").with_reference(reference)),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let failures = check(
//!     Arc::new(Fixed),
//!     &[
//!         Case::value("fixed://answer", "forty-two"),
//!         Case::error("fixed://missing", ProviderErrorKind::NotFound),
//!         Case::invalid("fixed:/broken"),
//!     ],
//! )
//! .await;
//! assert!(failures.is_empty(), "{failures:#?}");
//! # }
//! ```

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::provider::{ExternalProvider, ProviderErrorKind};

/// One reference and what the provider should answer.
#[derive(Debug, Clone)]
pub struct Case {
    reference: String,
    expected: Expected,
}

#[derive(Debug, Clone)]
enum Expected {
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

/// Runs the suite; returns a description of every failure (empty when the provider
/// conforms). Descriptions never include values.
pub async fn check(provider: Arc<dyn ExternalProvider>, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    let values: Vec<&str> = cases
        .iter()
        .filter_map(|c| match &c.expected {
            Expected::Value(v) if !v.expose_secret().is_empty() => Some(v.expose_secret()),
            _ => None,
        })
        .collect();
    let leaks = |text: &str| values.iter().any(|v| text.contains(v));

    let (id, scheme) = (provider.id().to_owned(), provider.scheme().to_owned());
    if id.is_empty() || provider.id() != id {
        failures.push("id() is empty or unstable".to_owned());
    }
    if scheme.is_empty() || scheme.contains("://") || provider.scheme() != scheme {
        failures.push("scheme() is empty, unstable or holds `://`".to_owned());
    }

    let mut resolvable = Vec::new();
    for case in cases {
        let checked = provider.check_reference(&case.reference);
        match (&case.expected, checked) {
            (Expected::Invalid, Ok(())) => failures.push(format!(
                "check_reference accepted malformed `{}`",
                case.reference
            )),
            (Expected::Invalid, Err(e)) if e.kind() != ProviderErrorKind::InvalidReference => {
                failures.push(format!(
                    "check_reference of `{}` failed with {:?}, not InvalidReference",
                    case.reference,
                    e.kind()
                ))
            }
            (Expected::Invalid, Err(e)) if e.offset().is_none() => failures.push(format!(
                "check_reference of `{}` names no byte offset",
                case.reference
            )),
            (Expected::Invalid, Err(_)) => {}
            (_, Err(e)) => {
                failures.push(format!("check_reference refused `{}`: {e}", case.reference))
            }
            (_, Ok(())) => resolvable.push(case),
        }
    }

    let mut singles = Vec::new();
    for case in &resolvable {
        let outcome = provider.resolve(&case.reference).await;
        match (&case.expected, &outcome) {
            (Expected::Value(expected), Ok(got))
                if got.expose_secret() != expected.expose_secret() =>
            {
                failures.push(format!(
                    "resolve(`{}`) returned another value",
                    case.reference
                ))
            }
            (Expected::Value(_), Err(e)) => {
                failures.push(format!("resolve(`{}`) failed: {e}", case.reference))
            }
            (Expected::Error(_), Ok(_)) => failures.push(format!(
                "resolve(`{}`) succeeded but should fail",
                case.reference
            )),
            (Expected::Error(kind), Err(e)) if e.kind() != *kind => failures.push(format!(
                "resolve(`{}`) failed with {:?}, not {kind:?}",
                case.reference,
                e.kind()
            )),
            _ => {}
        }
        if let Err(e) = &outcome {
            if e.provider() != id {
                failures.push(format!(
                    "an error of `{}` names provider `{}`, not `{id}`",
                    case.reference,
                    e.provider()
                ));
            }
            if e.reference() != Some(case.reference.as_str()) {
                failures.push(format!(
                    "an error of `{}` does not carry its reference",
                    case.reference
                ));
            }
            if leaks(&format!("{e} {e:?}")) {
                failures.push(format!(
                    "an error of `{}` shows a secret value",
                    case.reference
                ));
            }
        }
        singles.push(
            outcome
                .map(|v| v.expose_secret().to_owned())
                .map_err(|e| e.kind()),
        );
    }

    let references: Vec<&str> = resolvable.iter().map(|c| c.reference.as_str()).collect();
    let batch = provider.resolve_all(&references).await;
    if batch.len() != references.len() {
        failures.push(format!(
            "resolve_all returned {} results for {} references",
            batch.len(),
            references.len()
        ));
    }
    for ((reference, single), together) in references.iter().zip(&singles).zip(&batch) {
        let together = together
            .as_ref()
            .map(|v| v.expose_secret().to_owned())
            .map_err(|e| e.kind());
        if *single != together {
            failures.push(format!(
                "resolve_all disagrees with resolve for `{reference}`"
            ));
        }
    }
    if !provider.resolve_all(&[]).await.is_empty() {
        failures.push("resolve_all of nothing returned something".to_owned());
    }
    if leaks(&format!("{provider:?}")) {
        failures.push("the provider's Debug shows a secret value".to_owned());
    }
    provider.clear_cache();
    failures
}

//! The conformance suite every [`ExternalProvider`] should pass, run through
//! `Arc<dyn ExternalProvider>` as the vault uses it (feature `conformance`).
//!
//! Give it the provider and a few cases you know the answer to: references that resolve to
//! a known value, references that fail with a known kind, and malformed references. It
//! checks the trait's contract: a stable id and scheme; offline reference checks that
//! refuse malformed references with a byte offset; `resolve_all` agreeing with `resolve` in
//! order and length, also when a reference is repeated in one batch; errors that carry
//! their reference and provider id; `clear_cache` leaving the provider working; concurrent
//! callers of one secret through a [`Vault`](crate::Vault) sharing one fetch; and no value
//! or credential ([`check_with`] and [`Options::credential`]) in any `Debug`, `Display` or
//! error output.
//!
//! For HTTP backends, [`FaultProxy`] sits between the provider and its (real or stand-in)
//! server and injects transient faults: 5xx and 429 answers with `Retry-After`, dropped
//! connections and slow answers; [`check_faults`] runs the transient-fault cases through
//! it.
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

mod case;
mod faults;
mod hostile;
mod wire;

use case::Expected;
pub use case::{Case, Options};
pub use faults::{Fault, FaultProxy, check_faults};
pub use hostile::{Faults, Sink, check_hostile};

/// Runs the suite; returns a description of every failure (empty when the provider
/// conforms). Descriptions never include values.
pub async fn check(provider: Arc<dyn ExternalProvider>, cases: &[Case]) -> Vec<String> {
    check_with(provider, cases, &Options::default()).await
}

/// Runs the suite as [`check`] does, also looking for the credentials in `options`.
pub async fn check_with(
    provider: Arc<dyn ExternalProvider>,
    cases: &[Case],
    options: &Options,
) -> Vec<String> {
    let secrets = Secrets::of(cases, options);
    let mut failures = identity(provider.as_ref());
    let resolvable = offline(provider.as_ref(), cases, &mut failures);
    let singles = singles(provider.as_ref(), &resolvable, &secrets, &mut failures).await;
    let references: Vec<&str> = resolvable.iter().map(|c| c.reference.as_str()).collect();
    failures.extend(batches(provider.as_ref(), &references, &singles).await);
    failures.extend(after_clear(provider.as_ref(), &resolvable, &singles).await);
    if let Some(case) = resolvable
        .iter()
        .find(|c| matches!(c.expected, Expected::Value(_)))
    {
        failures.extend(concurrent_callers(Arc::clone(&provider), case).await);
    }
    if secrets.shown_in(&format!("{provider:?}")) {
        failures.push("the provider's Debug shows a secret value or credential".to_owned());
    }
    provider.clear_cache();
    failures
}

/// The values of the cases and the credentials of the options: none may show anywhere.
struct Secrets(Vec<String>);

impl Secrets {
    fn of(cases: &[Case], options: &Options) -> Self {
        let values = cases.iter().filter_map(|c| match &c.expected {
            Expected::Value(v) => Some(v),
            _ => None,
        });
        Secrets(
            values
                .chain(&options.credentials)
                .map(|s| s.expose_secret().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    fn shown_in(&self, text: &str) -> bool {
        self.0.iter().any(|s| text.contains(s.as_str()))
    }
}

/// What one reference resolved to alone: the value, or the kind of the failure.
type Single = Result<String, ProviderErrorKind>;

/// A stable, non-empty id and scheme.
fn identity(provider: &dyn ExternalProvider) -> Vec<String> {
    let mut failures = Vec::new();
    let (id, scheme) = (provider.id().to_owned(), provider.scheme().to_owned());
    if id.is_empty() || provider.id() != id {
        failures.push("id() is empty or unstable".to_owned());
    }
    if scheme.is_empty() || scheme.contains("://") || provider.scheme() != scheme {
        failures.push("scheme() is empty, unstable or holds `://`".to_owned());
    }
    failures
}

/// The offline checks: malformed references refused with an offset, the rest accepted.
/// Returns the cases that passed them.
fn offline<'a>(
    provider: &dyn ExternalProvider,
    cases: &'a [Case],
    failures: &mut Vec<String>,
) -> Vec<&'a Case> {
    let mut resolvable = Vec::new();
    for case in cases {
        let reference = &case.reference;
        match (&case.expected, provider.check_reference(reference)) {
            (Expected::Invalid, Ok(())) => {
                failures.push(format!("check_reference accepted malformed `{reference}`"))
            }
            (Expected::Invalid, Err(e)) if e.kind() != ProviderErrorKind::InvalidReference => {
                failures.push(format!(
                    "check_reference of `{reference}` failed with {:?}, not InvalidReference",
                    e.kind()
                ))
            }
            (Expected::Invalid, Err(e)) if e.offset().is_none() => failures.push(format!(
                "check_reference of `{reference}` names no byte offset"
            )),
            (Expected::Invalid, Err(_)) => {}
            (_, Err(e)) => failures.push(format!("check_reference refused `{reference}`: {e}")),
            (_, Ok(())) => resolvable.push(case),
        }
    }
    resolvable
}

/// Each case resolved alone: the expected value or kind, errors that carry their reference
/// and provider id and show no secret.
async fn singles(
    provider: &dyn ExternalProvider,
    cases: &[&Case],
    secrets: &Secrets,
    failures: &mut Vec<String>,
) -> Vec<Single> {
    let id = provider.id().to_owned();
    let mut singles = Vec::new();
    for case in cases {
        let reference = &case.reference;
        let outcome = provider.resolve(reference).await;
        match (&case.expected, &outcome) {
            (Expected::Value(expected), Ok(got))
                if got.expose_secret() != expected.expose_secret() =>
            {
                failures.push(format!("resolve(`{reference}`) returned another value"))
            }
            (Expected::Value(_), Err(e)) => {
                failures.push(format!("resolve(`{reference}`) failed: {e}"))
            }
            (Expected::Error(_), Ok(_)) => {
                failures.push(format!("resolve(`{reference}`) succeeded but should fail"))
            }
            (Expected::Error(kind), Err(e)) if e.kind() != *kind => failures.push(format!(
                "resolve(`{reference}`) failed with {:?}, not {kind:?}",
                e.kind()
            )),
            _ => {}
        }
        if let Err(e) = &outcome {
            if e.provider() != id {
                failures.push(format!(
                    "an error of `{reference}` names provider `{}`, not `{id}`",
                    e.provider()
                ));
            }
            if e.reference() != Some(reference.as_str()) {
                failures.push(format!(
                    "an error of `{reference}` does not carry its reference"
                ));
            }
            if secrets.shown_in(&format!("{e} {e:?}")) {
                failures.push(format!("an error of `{reference}` shows a secret value"));
            }
        }
        singles.push(single(outcome));
    }
    singles
}

fn single(outcome: Result<SecretString, crate::ProviderError>) -> Single {
    outcome
        .map(|v| v.expose_secret().to_owned())
        .map_err(|e| e.kind())
}

/// `resolve_all` agrees with `resolve` in order and length, answers nothing with nothing,
/// and answers a reference given twice twice.
async fn batches(
    provider: &dyn ExternalProvider,
    references: &[&str],
    singles: &[Single],
) -> Vec<String> {
    let mut failures = Vec::new();
    let batch = provider.resolve_all(references).await;
    if batch.len() != references.len() {
        failures.push(format!(
            "resolve_all returned {} results for {} references",
            batch.len(),
            references.len()
        ));
    }
    for ((reference, alone), together) in references.iter().zip(singles).zip(batch) {
        if *alone != single(together) {
            failures.push(format!(
                "resolve_all disagrees with resolve for `{reference}`"
            ));
        }
    }
    if !provider.resolve_all(&[]).await.is_empty() {
        failures.push("resolve_all of nothing returned something".to_owned());
    }
    if let Some((reference, alone)) = references.first().zip(singles.first()) {
        let twice = provider.resolve_all(&[reference, reference]).await;
        if twice.len() != 2 || twice.into_iter().any(|r| single(r) != *alone) {
            failures.push(format!(
                "resolve_all with `{reference}` twice did not answer it twice as resolve does"
            ));
        }
    }
    failures
}

/// After `clear_cache` the provider still resolves, and says the same.
async fn after_clear(
    provider: &dyn ExternalProvider,
    cases: &[&Case],
    singles: &[Single],
) -> Vec<String> {
    let mut failures = Vec::new();
    provider.clear_cache();
    for (case, alone) in cases.iter().zip(singles) {
        if matches!(case.expected, Expected::Value(_)) {
            let reference = &case.reference;
            if single(provider.resolve(reference).await) != *alone {
                failures.push(format!(
                    "after clear_cache, resolve(`{reference}`) answers differently"
                ));
            }
        }
    }
    failures
}

/// 16 tasks resolve one linked secret through a vault at once: the provider is asked once,
/// and every task gets the expected value.
async fn concurrent_callers(provider: Arc<dyn ExternalProvider>, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let Expected::Value(expected) = &case.expected else {
        return failures;
    };
    provider.clear_cache();
    let counting = Arc::new(Counting {
        inner: provider,
        calls: std::sync::atomic::AtomicUsize::new(0),
    });
    let vault = crate::Vault::new();
    vault.add_shared_provider(Arc::clone(&counting) as Arc<dyn ExternalProvider>);
    if let Err(e) = vault.link("conformance", &case.reference) {
        failures.push(format!("Vault::link of `{}` failed: {e}", case.reference));
        return failures;
    }
    let callers = (0..16).map(|_| vault.resolve("conformance"));
    let outcomes = futures_util::future::join_all(callers).await;
    if outcomes.iter().any(|o| {
        !o.as_ref()
            .is_ok_and(|v| v.expose_secret() == expected.expose_secret())
    }) {
        failures.push(format!(
            "16 concurrent resolves of `{}` through a vault did not all get its value",
            case.reference
        ));
    }
    let calls = counting.calls.load(std::sync::atomic::Ordering::SeqCst);
    if calls != 1 {
        failures.push(format!(
            "16 concurrent resolves of `{}` through a vault made {calls} provider calls, not 1",
            case.reference
        ));
    }
    failures
}

/// Counts the calls the vault makes to a provider.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ExternalProvider>,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ExternalProvider for Counting {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn scheme(&self) -> &str {
        self.inner.scheme()
    }

    fn check_reference(&self, reference: &str) -> Result<(), crate::ProviderError> {
        self.inner.check_reference(reference)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, crate::ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.resolve(reference).await
    }

    async fn resolve_all(
        &self,
        references: &[&str],
    ) -> Vec<Result<SecretString, crate::ProviderError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.resolve_all(references).await
    }

    async fn resolve_leased(
        &self,
        reference: &str,
    ) -> Result<crate::provider::Resolved, crate::ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.resolve_leased(reference).await
    }

    async fn resolve_all_leased(
        &self,
        references: &[&str],
    ) -> Vec<Result<crate::provider::Resolved, crate::ProviderError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.resolve_all_leased(references).await
    }

    fn attach(&self, context: &crate::provider::ProviderContext) {
        self.inner.attach(context);
    }

    fn clear_cache(&self) {
        self.inner.clear_cache();
    }
}

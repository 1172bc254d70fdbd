//! [`Session`]: what a built AWS provider holds from its builder (the SDK configuration with
//! the door's HTTP client and the credential chain, the retry policy, the error mapping)
//! and the parts both providers share (the region to use, `check`), and [`Regional`], the
//! service clients it makes per region.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use aws_config::SdkConfig;

use crate::Error;
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

use super::error::Errors;

/// A built provider's settings, shared by Secrets Manager and Parameter Store. Its `Debug`
/// leaves the SDK configuration out (it would name the access key ID).
pub(crate) struct Session {
    /// The provider's id in a vault.
    pub(crate) id: String,
    /// Region, credentials, HTTP client and retries for every AWS call.
    pub(crate) sdk_config: SdkConfig,
    /// Where the service's calls go instead of AWS's endpoint.
    pub(crate) endpoint_url: Option<String>,
    /// The region of references that name none.
    pub(crate) default_region: Option<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) concurrency: usize,
    /// How the credentials were configured, for `Debug` ("static credentials").
    pub(crate) description: String,
    pub(crate) errors: Errors,
}

impl Session {
    /// `named` (the region a reference names), else the default region, else an error
    /// saying how to set one; `hint` says what a reference can name ("a secret ARN or
    /// `?region=`").
    pub(crate) fn region(&self, named: Option<&str>, hint: &str) -> Result<String, ProviderError> {
        named
            .or(self.default_region.as_deref())
            .map(str::to_owned)
            .ok_or_else(|| {
                self.errors.plain(
                    ProviderErrorKind::Configuration,
                    format!(
                        "no AWS region: set one with the builder's `.region()`, AWS_REGION or \
                         the profile, or use {hint}"
                    ),
                )
            })
    }

    /// Runs `call` (a cheap listing in the default region, given that region) under the
    /// retry policy: the service is reachable and takes the credentials. A refusal of the
    /// listing itself (`AccessDeniedException`) means the credentials were accepted, and
    /// passes.
    pub(crate) async fn check<T, F, Fut>(&self, hint: &str, call: F) -> Result<(), Error>
    where
        F: Fn(&str) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let region = self.region(None, hint)?;
        match self.retry.run(|| call(&region)).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ProviderErrorKind::Forbidden => Ok(()),
            Err(e) => Err(Error::from(e)),
        }
    }

    /// A provider's `Debug`, named `name`: never the credentials themselves.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("id", &self.id)
            .field("region", &self.default_region)
            .field("credentials", &self.description)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug("Session", f)
    }
}

/// Service clients by region, made on first use by a function of the region (the
/// configured client, or a copy re-aimed at a region a reference names).
pub(crate) struct Regional<C> {
    make: Box<dyn Fn(&str) -> C + Send + Sync>,
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    pub(crate) fn new(make: impl Fn(&str) -> C + Send + Sync + 'static) -> Self {
        Regional {
            make: Box::new(make),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of `region`.
    pub(crate) fn get(&self, region: &str) -> C {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| (self.make)(region))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn each_region_gets_one_client() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let regional = Regional::new(move |region| {
            counter.fetch_add(1, Ordering::SeqCst);
            region.to_owned()
        });
        for region in ["eu-west-1", "us-east-1", "eu-west-1"] {
            assert_eq!(regional.get(region), region);
        }
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}

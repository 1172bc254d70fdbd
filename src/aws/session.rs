//! [`Session`]: what a built AWS provider holds from its builder (the SDK configuration with
//! the door's HTTP client and the credential chain, the retry policy, the error mapping),
//! and [`Regional`], the service clients it makes per region.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;

use crate::provider::RetryPolicy;

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

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("default_region", &self.default_region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.description)
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Service clients by region, made on first use (the configured region's, or a copy
/// re-aimed at a region a reference names).
#[derive(Debug)]
pub(crate) struct Regional<C> {
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    pub(crate) fn new() -> Self {
        Regional {
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of `region`, made by `make` the first time.
    pub(crate) fn get(&self, region: &str, make: impl FnOnce() -> C) -> C {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(make)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_gets_one_client() {
        let regional = Regional::new();
        let mut made = 0;
        for region in ["eu-west-1", "us-east-1", "eu-west-1"] {
            regional.get(region, || {
                made += 1;
                region.to_owned()
            });
        }
        assert_eq!(made, 2);
        assert_eq!(regional.get("us-east-1", || unreachable!()), "us-east-1");
    }
}

//! [`VaultBuilder`]: a vault's options (cache TTL, refresh ahead of time, stale-if-error,
//! provider concurrency, HTTP client), and the constructors of an in-memory [`Vault`].

use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use crate::provider::{DEFAULT_CACHE_TTL, DEFAULT_PROVIDER_CONCURRENCY};
use crate::resolver::{Providers, Resolver};
use crate::template_cache::TemplateCache;
use crate::vault::{Inner, State, Vault};

/// Options for a [`Vault`], built with [`Vault::builder`].
///
/// ```
/// use std::time::Duration;
/// use request_vault::Vault;
///
/// let vault = Vault::builder()
///     .cache_ttl(Duration::from_secs(300))
///     .refresh_ahead(0.8)
///     .provider_concurrency(4)
///     .build();
/// # drop(vault);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct VaultBuilder {
    cache_ttl: Duration,
    provider_concurrency: usize,
    stale_if_error: Option<Duration>,
    refresh_ahead: Option<f64>,
    client: Option<reqwest::Client>,
}

impl Default for VaultBuilder {
    fn default() -> Self {
        VaultBuilder {
            cache_ttl: DEFAULT_CACHE_TTL,
            provider_concurrency: DEFAULT_PROVIDER_CONCURRENCY,
            stale_if_error: None,
            refresh_ahead: None,
            client: None,
        }
    }
}

impl VaultBuilder {
    /// How long fetched values of linked secrets are kept in memory ([`DEFAULT_CACHE_TTL`]
    /// unless set). `Duration::ZERO` disables caching; concurrent fetches are still shared.
    ///
    /// ```
    /// use std::time::Duration;
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder().cache_ttl(Duration::from_secs(300)).build();
    /// # drop(vault);
    /// ```
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many provider calls the vault makes at once
    /// ([`DEFAULT_PROVIDER_CONCURRENCY`] unless set; at least 1).
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder().provider_concurrency(4).build();
    /// # drop(vault);
    /// ```
    pub fn provider_concurrency(mut self, limit: usize) -> Self {
        self.provider_concurrency = limit.max(1);
        self
    }

    /// Serves a linked secret's last value, for at most `max_staleness` past its cache TTL,
    /// when refreshing it fails with a transient error (a timeout, a rate limit, the backend
    /// unavailable): the value is marked stale, and [`Vault::describe`] says since when and
    /// why ([`SecretInfo::stale`](crate::SecretInfo::stale)). A refusal or a missing secret
    /// (`Unauthorized`, `Forbidden`, `NotFound`, or any other non-transient kind) always
    /// surfaces, and drops the value. Off unless set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder()
    ///     .cache_ttl(Duration::from_secs(300))
    ///     .stale_if_error(Duration::from_secs(3600))
    ///     .build();
    /// # drop(vault);
    /// ```
    pub fn stale_if_error(mut self, max_staleness: Duration) -> Self {
        self.stale_if_error = Some(max_staleness);
        self
    }

    /// Refreshes linked values ahead of time, so that no caller waits for a provider once a
    /// value was fetched: a resolve after `fraction` of a value's lifetime (its cache TTL,
    /// or the lease its provider gave when shorter, counted from the fetch) returns the
    /// cached value at once and starts one background refetch of it, together with the
    /// other values fetched in the same batch. Off unless set.
    ///
    /// - A failed background refetch keeps the value until its TTL ends (it is not retried
    ///   ahead of time); then the usual path applies, with
    ///   [`stale_if_error`](Self::stale_if_error) where it is on.
    /// - The background refetch holds nothing of the vault: it ends when the vault is
    ///   dropped, and [`Vault::invalidate`] or [`Vault::clear_cache`] keep its value out.
    /// - Ages run on tokio's clock, so tests that pause it hold.
    /// - [`Vault::describe`] tells when a value refreshes
    ///   ([`SecretInfo::refreshes_at`](crate::SecretInfo::refreshes_at)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use request_vault::Vault;
    ///
    /// // Values live 5 minutes; a resolve after 4 refetches in the background.
    /// let vault = Vault::builder()
    ///     .cache_ttl(Duration::from_secs(300))
    ///     .refresh_ahead(0.8)
    ///     .build();
    /// # drop(vault);
    /// ```
    ///
    /// # Panics
    ///
    /// When `fraction` is not strictly between 0 and 1 (a programming error: 0 would
    /// refetch on every resolve, 1 never ahead of time).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        assert!(
            fraction > 0.0 && fraction < 1.0,
            "refresh_ahead takes a fraction of the TTL strictly between 0 and 1, not {fraction}"
        );
        self.refresh_ahead = Some(fraction);
        self
    }

    /// The HTTP client [`Vault::send`] uses (and `middleware::VaultMiddleware`, for the
    /// requests that carry secrets: set TLS roots, proxies and DNS overrides here). It must
    /// not follow redirects itself
    /// (`reqwest::redirect::Policy::none()`): the vault follows them, checking each hop.
    /// Without one, the vault builds such a client on first use.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let client = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .build()
    ///     .expect("a client");
    /// let vault = Vault::builder().client(client).build();
    /// # drop(vault);
    /// ```
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds an empty in-memory vault with these options.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder().build();
    /// assert!(vault.secrets().is_empty());
    /// ```
    pub fn build(self) -> Vault {
        let client = OnceLock::new();
        if let Some(given) = self.client {
            let _ = client.set(given);
        }
        let inner = Arc::new_cyclic(|vault: &Weak<Inner>| {
            // A refresh ahead of time finds its provider in the registry then; it holds the
            // vault only weakly, so that dropping the vault ends it.
            let vault = Weak::clone(vault);
            let providers: Providers = Box::new(move |id| {
                let inner = vault.upgrade()?;
                let state = inner
                    .state
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state.registry.get(id).cloned()
            });
            Inner {
                state: RwLock::new(State::default()),
                resolver: Resolver::new(
                    self.cache_ttl,
                    self.stale_if_error,
                    self.refresh_ahead,
                    self.provider_concurrency,
                    providers,
                ),
                client,
                templates: TemplateCache::default(),
                #[cfg(feature = "file")]
                file: std::sync::Mutex::new(None),
            }
        });
        Vault { inner }
    }
}

impl Default for Vault {
    fn default() -> Self {
        Vault::new()
    }
}

impl Vault {
    /// An empty in-memory vault with default options.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// assert_eq!(vault.secrets().len(), 1);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn new() -> Self {
        VaultBuilder::default().build()
    }

    /// A builder for a vault with other options.
    ///
    /// ```
    /// use std::time::Duration;
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder().cache_ttl(Duration::ZERO).build(); // fetch every time
    /// # drop(vault);
    /// ```
    pub fn builder() -> VaultBuilder {
        VaultBuilder::default()
    }
}

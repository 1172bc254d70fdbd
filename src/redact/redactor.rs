//! [`Redactor`]: masks secret values in text, in the forms they take on the wire, and
//! [`Vault::redactor`], the live one that follows a vault.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::live::{Shared, View};
use super::masks::Masks;
use super::scan;
use crate::vault::Vault;

/// Masks secret values in text (logs, captured requests, error bodies), in the forms they
/// take on the wire, not only as they are.
///
/// Each secret is searched in the text as it is, in the text with its escapes read (up to
/// three times over: percent-encoding in either case, `%2F`, `%2f`, `%252F`, wholly or
/// partly; form encoding's `+` for a space; JSON's escapes, `\u0040`, `\/`, `\"`, and `\\\"`
/// for a JSON log line inside a JSON string), and in the base64 of each (standard or
/// URL-safe, padded or not, alone or inside a longer base64 text such as an encoded JSON
/// body, at any alignment: the characters that carry any bit of the secret are masked). A
/// `Basic` or `Bearer` credential is masked whole when its decoded token holds a secret
/// (`base64(user:secret)`). Every match becomes `[vault:NAME]`. Secrets under 6 bytes are
/// searched in base64 only as a whole.
///
/// [`Vault::redactor`] gives a *live* redactor, which follows the vault: it masks values
/// stored or fetched after it was made too, and keeps masking every value it ever masked
/// (through rotations, `clear_cache` and `lock`: the old value may already be in a log).
/// [`Redactor::new`] gives one over fixed values. Either is cheap to clone (clones share
/// everything) and `Send + Sync`; the redactor's copies of the values are wiped when its
/// last clone is dropped. [`writer`](Self::writer) masks what goes through a
/// [`std::io::Write`].
///
/// Building a redactor costs time linear in the total size of the secrets; redacting is one
/// pass (aho-corasick) over the text and over each of its decoded views that differs from it,
/// and rebuilds nothing while the vault does not change.
///
/// ```
/// use request_vault::Redactor;
///
/// let redactor = Redactor::new([("api-key", "p@ss word")]);
/// assert_eq!(
///     redactor.redact("GET /?k=p%40ss%20word HTTP/1.1\nX-Key: p@ss word"),
///     "GET /?k=[vault:api-key] HTTP/1.1\nX-Key: [vault:api-key]"
/// );
/// assert_eq!(redactor.redact(r#"{"k":"p\u0040ss word"}"#), r#"{"k":"[vault:api-key]"}"#);
/// ```
#[derive(Clone)]
pub struct Redactor {
    shared: Arc<Shared>,
}

impl Redactor {
    /// A redactor for the given `(name, value)` pairs, and nothing else. Empty values are
    /// ignored.
    ///
    /// ```
    /// use request_vault::Redactor;
    ///
    /// let redactor = Redactor::new([("db", "hunter2"), ("empty", "")]);
    /// assert_eq!(redactor.len(), 1);
    /// assert_eq!(redactor.redact("password=hunter2"), "password=[vault:db]");
    /// ```
    pub fn new<N, V>(secrets: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<SecretString>,
    {
        let values: Vec<(Arc<str>, SecretString)> = secrets
            .into_iter()
            .map(|(name, value)| (Arc::from(name.into()), value.into()))
            .collect();
        let masks = Masks::build(values.iter().map(|(name, value)| (Arc::clone(name), value)));
        Redactor {
            shared: Shared::fixed(masks),
        }
    }

    /// `text` with every known secret, in every form it knows, replaced by `[vault:NAME]`.
    ///
    /// ```
    /// use request_vault::Redactor;
    ///
    /// let redactor = Redactor::new([("token", "t0k/en")]);
    /// assert_eq!(redactor.redact("?t=t0k%2Fen"), "?t=[vault:token]");
    /// ```
    pub fn redact(&self, text: &str) -> String {
        let view = self.view();
        let spans = scan::spans(&view.masks(), text.as_bytes());
        if spans.is_empty() {
            return text.to_owned();
        }
        scan::mask_str(text, &spans)
    }

    /// `text` (bytes, UTF-8 or not) masked as [`redact`](Self::redact) does, in a buffer
    /// that is wiped when dropped.
    pub(super) fn redact_bytes(view: &View, text: &[u8]) -> Zeroizing<Vec<u8>> {
        let spans = scan::spans(&view.masks(), text);
        scan::mask_bytes(text, &spans)
    }

    /// What to search now (a live redactor first takes in what its vault announced).
    pub(super) fn view(&self) -> Arc<View> {
        self.shared.view()
    }

    /// How many values the redactor masks (a secret whose value changed counts once per
    /// value).
    pub fn len(&self) -> usize {
        self.view().len()
    }

    /// Whether the redactor masks nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.view().names())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A live [`Redactor`] for this vault.
    ///
    /// It masks every value the vault holds now (local values, and linked values that are
    /// cached), and follows the vault from then on: values stored with `set` (or brought by
    /// `import` and `unlock`), linked values once fetched, and both the old and the new value
    /// of a secret that changed (a `set` over a value, a refetch that brings a new one). A
    /// value once masked stays masked for the redactor's lifetime, through rotations, TTL
    /// refetches, `clear_cache` and `lock`.
    ///
    /// A fetched value is masked as the first secret linked to its reference; in the rare
    /// case that none is (it was unlinked meanwhile), or that the vault is busy in that
    /// instant (a redactor called from inside a vault operation, through a `tracing` writer),
    /// as its reference.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// let redactor = vault.redactor();
    /// vault.set("api-key", "s3cr3t-1")?;
    /// assert_eq!(redactor.redact("key=s3cr3t-1"), "key=[vault:api-key]");
    /// vault.set("api-key", "s3cr3t-2")?;
    /// assert_eq!(redactor.redact("s3cr3t-1 s3cr3t-2"), "[vault:api-key] [vault:api-key]");
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn redactor(&self) -> Redactor {
        Redactor {
            shared: Shared::follow(self),
        }
    }
}

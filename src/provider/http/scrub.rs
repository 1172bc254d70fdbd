//! [`Scrubber`]: the credentials a provider holds, and the one function that takes them out
//! of server text before it goes into an error.
//!
//! A server may echo what it was sent (`{"errors":["invalid token hvs.…"]}`), and a hostile
//! one will. Every credential the provider holds (static ones from its builder, tokens it
//! obtains later) is registered here, and every piece of server text that reaches an error
//! passes [`Scrubber::scrub`] first: the credential as it is, and in the forms a request
//! carries it (percent- and form-encoded, JSON-escaped, base64), becomes `[credential]`.

use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::provider::ProviderError;

/// What a credential becomes in scrubbed text.
pub(crate) const MASK: &str = "[credential]";

/// Credentials shorter than this are not searched: they would mask ordinary words.
const SHORTEST: usize = 4;

/// How many credentials obtained along the way (tokens, which renew) are kept: the newest.
const OBTAINED: usize = 32;

/// The credentials of one provider, in every form they are searched in.
#[derive(Default)]
pub(crate) struct Scrubber {
    forms: RwLock<Forms>,
}

#[derive(Default)]
struct Forms {
    /// From the builder: kept for the provider's life.
    fixed: Vec<Zeroizing<String>>,
    /// Obtained later (access tokens): the newest [`OBTAINED`] credentials' forms.
    obtained: std::collections::VecDeque<Vec<Zeroizing<String>>>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber").finish_non_exhaustive()
    }
}

impl Scrubber {
    /// An empty scrubber.
    pub(crate) fn new() -> Self {
        Scrubber::default()
    }

    /// Registers a credential the provider was built with.
    pub(crate) fn add(&self, credential: &SecretString) {
        let forms = forms_of(credential.expose_secret());
        self.write().fixed.extend(forms);
    }

    /// Registers a credential the provider obtained (a token), keeping the newest few.
    pub(crate) fn add_obtained(&self, credential: &SecretString) {
        let forms = forms_of(credential.expose_secret());
        if forms.is_empty() {
            return;
        }
        let mut state = self.write();
        if state.obtained.iter().any(|known| *known == forms) {
            return;
        }
        if state.obtained.len() == OBTAINED {
            state.obtained.pop_front();
        }
        state.obtained.push_back(forms);
    }

    /// `text` with every form of every credential replaced by [`MASK`].
    pub(crate) fn scrub(&self, text: &str) -> String {
        let state = self.forms.read().unwrap_or_else(|p| p.into_inner());
        // Each step's text may still hold a credential: wiped when replaced.
        let mut text = Zeroizing::new(text.to_owned());
        for form in state.fixed.iter().chain(state.obtained.iter().flatten()) {
            if text.contains(form.as_str()) {
                text = Zeroizing::new(text.replace(form.as_str(), MASK));
            }
        }
        text.as_str().to_owned()
    }

    /// `error` with its message scrubbed.
    pub(crate) fn scrub_error(&self, error: ProviderError) -> ProviderError {
        error.map_message(|message| self.scrub(message))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Forms> {
        self.forms.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The forms a credential takes in a request: as it is, percent-encoded, form-encoded,
/// JSON-escaped and base64 (standard and URL-safe), longest first so that a longer form is
/// masked whole before a shorter one inside it.
fn forms_of(credential: &str) -> Vec<Zeroizing<String>> {
    if credential.len() < SHORTEST {
        return Vec::new();
    }
    let json = serde_json::to_string(credential).unwrap_or_default();
    let mut forms = vec![
        Zeroizing::new(credential.to_owned()),
        Zeroizing::new(utf8_percent_encode(credential, NON_ALPHANUMERIC).to_string()),
        Zeroizing::new(url::form_urlencoded::byte_serialize(credential.as_bytes()).collect()),
        Zeroizing::new(json.get(1..json.len().saturating_sub(1)).unwrap_or_default().to_owned()),
        Zeroizing::new(STANDARD.encode(credential)),
        Zeroizing::new(URL_SAFE_NO_PAD.encode(credential)),
    ];
    forms.retain(|form| form.len() >= SHORTEST);
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_every_credential_is_masked() {
        let scrubber = Scrubber::new();
        scrubber.add(&SecretString::from("s3cr3t~id/x+y"));
        scrubber.add_obtained(&SecretString::from("hvs.TOKEN"));
        let text = r#"{"errors":["bad s3cr3t~id/x+y or s3cr3t%7Eid%2Fx%2By, s3cr3t%7Eid%2Fx%2By", "token hvs.TOKEN", "czNjcjN0fmlkL3greQ=="]}"#;
        let scrubbed = scrubber.scrub(text);
        assert!(!scrubbed.contains("s3cr3t"), "{scrubbed}");
        assert!(!scrubbed.contains("hvs.TOKEN"), "{scrubbed}");
        assert!(!scrubbed.contains("czNjcjN0"), "{scrubbed}");
        assert_eq!(scrubbed.matches(MASK).count(), 5, "{scrubbed}");
    }

    #[test]
    fn short_credentials_and_plain_text_are_left_alone() {
        let scrubber = Scrubber::new();
        scrubber.add(&SecretString::from("ab"));
        assert_eq!(scrubber.scrub("about a cab"), "about a cab");
    }

    #[test]
    fn only_the_newest_obtained_credentials_are_kept() {
        let scrubber = Scrubber::new();
        for n in 0..=OBTAINED {
            scrubber.add_obtained(&SecretString::from(format!("token-{n:04}")));
        }
        assert_eq!(scrubber.scrub("token-0000"), "token-0000");
        assert_eq!(scrubber.scrub(&format!("token-{OBTAINED:04}")), MASK);
    }

    #[test]
    fn errors_are_scrubbed_in_their_message() {
        let scrubber = Scrubber::new();
        scrubber.add(&SecretString::from("client-secret-value"));
        let error = ProviderError::new(
            "azure",
            crate::ProviderErrorKind::Unauthorized,
            "AADSTS7000215: invalid secret client-secret-value",
        );
        let scrubbed = scrubber.scrub_error(error);
        assert_eq!(scrubbed.message(), "AADSTS7000215: invalid secret [credential]");
    }
}

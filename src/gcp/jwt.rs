//! The self-signed JWT of a service account (RS256), signed with aws-lc-rs (the RSA that
//! rustls already brings; the `rsa` crate is avoided for RUSTSEC-2023-0071), as Google's
//! OAuth 2.0 server-to-server flow asks: `{"iss": EMAIL, "scope": …, "aud": TOKEN_URI,
//! "iat": now, "exp": now + 1 h}`, with the key's ID as `kid`.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;

/// How long an assertion is valid: the most Google accepts.
const ASSERTION_LIFETIME: u64 = 3600;

/// A service account's signing key and identity.
pub(crate) struct Signer {
    pub(crate) email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("email", &self.email)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer for `email` with the PEM private key of a key file (PKCS #8, `BEGIN
    /// PRIVATE KEY`, as Google writes it; PKCS #1 `BEGIN RSA PRIVATE KEY` too).
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] when the key is not an RSA private key in PEM;
    /// the key is never quoted.
    pub(crate) fn new(
        email: String,
        key_id: Option<String>,
        pem: &str,
    ) -> Result<Signer, ProviderError> {
        let refused = |why: &str| {
            ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Configuration,
                format!("the private key of service account `{email}` {why}"),
            )
        };
        let (label, der) = pem_body(pem).ok_or_else(|| refused("is not PEM"))?;
        let key = match label {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            _ => return Err(refused("is not a PEM private key")),
        }
        .map_err(|_| refused("is not an RSA key of 2048 to 8192 bits"))?;
        Ok(Signer { email, key_id, key })
    }

    /// A signed assertion for `audience` (the token URI) and `scope`, issued now.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] if signing fails (it does not with a key that
    /// parsed).
    pub(crate) fn assertion(
        &self,
        audience: &str,
        scope: &str,
        issued_at: u64,
    ) -> Result<SecretString, ProviderError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = serde_json::json!({
            "iss": self.email,
            "scope": scope,
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at.saturating_add(ASSERTION_LIFETIME),
        });
        let mut jwt = Zeroizing::new(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        ));
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Configuration,
                    format!("signing a JWT for service account `{}` failed", self.email),
                )
            })?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(&signature));
        Ok(SecretString::from(jwt.as_str()))
    }
}

/// The label and DER bytes of the first PEM block of `pem`; the bytes are wiped when
/// dropped.
fn pem_body(pem: &str) -> Option<(&str, Zeroizing<Vec<u8>>)> {
    let start = pem.find("-----BEGIN ")?;
    let after = &pem[start + "-----BEGIN ".len()..];
    let label_end = after.find("-----")?;
    let label = &after[..label_end];
    let body = &after[label_end + "-----".len()..];
    let end = body.find(&format!("-----END {label}-----"))?;
    let text = Zeroizing::new(
        body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>(),
    );
    let mut der = Zeroizing::new(vec![0u8; text.len() / 4 * 3 + 3]);
    let len = STANDARD.decode_slice(text.as_bytes(), &mut der[..]).ok()?;
    der.truncate(len);
    Some((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_rsa_pem_are_refused_without_quoting_them() {
        for pem in [
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        ] {
            let error = Signer::new("sa@p.iam.gserviceaccount.com".into(), None, pem).unwrap_err();
            assert_eq!(error.kind(), ProviderErrorKind::Configuration);
            assert!(
                error.message().contains("sa@p.iam.gserviceaccount.com"),
                "{error}"
            );
            assert!(!error.message().contains("AAAA"), "{error}");
        }
    }

    #[test]
    fn pem_bodies_are_read_across_lines() {
        let (label, der) = pem_body(
            "junk\n-----BEGIN RSA PRIVATE KEY-----\naGVs\nbG8=\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(label, "RSA PRIVATE KEY");
        assert_eq!(der.as_slice(), b"hello");
    }
}

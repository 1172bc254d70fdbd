//! Batches of references: each distinct secret version is accessed once, a few at a time
//! (the provider's concurrency), and each answer is checked before its value is used: it
//! must name the secret asked for, its payload must decode, and its CRC32C must match (a
//! mismatch is a corrupt answer, `Protocol`). `#KEY` and `#/pointer` pick fields of a JSON
//! value.

use futures_util::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::provider::batch::{Slots, distinct};
use crate::provider::field::select_text;
use crate::provider::{ProviderError, ProviderErrorKind};

use super::client::{Client, what};
use super::crc32c;
use super::error::{self, PROVIDER_ID};
use super::reference::{SecretRef, VersionKey};
use super::wire::{AccessAnswer, Payload, seconds};

/// One result per reference, in order.
pub(crate) async fn resolve_all(
    client: &Client,
    concurrency: usize,
    references: &[&str],
) -> Vec<Result<SecretString, ProviderError>> {
    let mut slots = Slots::new(references.len());
    let mut parsed = Vec::with_capacity(references.len());
    for (index, reference) in references.iter().enumerate() {
        match SecretRef::parse(reference) {
            Ok(secret) => parsed.push((index, secret)),
            Err(error) => slots.set(index, Err(error)),
        }
    }
    let (versions, positions) = distinct(parsed.iter().map(|(_, secret)| secret.version.clone()));
    // Collected first: a lazy `map` here trips the compiler's higher-ranked lifetime check.
    let fetches: Vec<_> = versions.iter().map(|key| fetch(client, key)).collect();
    let fetched: Vec<Result<SecretString, ProviderError>> =
        stream::iter(fetches).buffered(concurrency).collect().await;
    for ((index, secret), position) in parsed.iter().zip(positions) {
        let result = match &fetched[position] {
            Ok(value) => match &secret.field {
                Some(field) => select_text(PROVIDER_ID, value.expose_secret(), field),
                None => Ok(value.clone()),
            },
            Err(error) => Err(error.duplicate()),
        };
        slots.set(
            *index,
            result.map_err(|e| e.with_reference(references[*index])),
        );
    }
    slots.finish_or_missing(PROVIDER_ID, references)
}

/// The value of one version.
async fn fetch(client: &Client, key: &VersionKey) -> Result<SecretString, ProviderError> {
    let reply = client.access(key).await?;
    let what = what(key);
    if !reply.is_success() {
        return Err(error::secret_manager(&reply, &what));
    }
    let answer: AccessAnswer = reply.json(PROVIDER_ID, "a secret version")?;
    check_name(answer.name.as_deref(), key, &what)?;
    let bytes = match answer.payload {
        Some(payload) => verified(payload, &what)?,
        None => Zeroizing::new(Vec::new()),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Unsupported,
            format!("{what} holds bytes that are not UTF-8 text"),
        )
    })?;
    Ok(SecretString::from(text))
}

/// The payload's bytes, decoded and checked against its CRC32C when it has one.
fn verified(payload: Payload, what: &str) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
    let corrupt = |why: &str| {
        ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!("Secret Manager sent a corrupt answer for {what}: {why}"),
        )
    };
    let bytes = match &payload.data {
        Some(data) => decode(data).ok_or_else(|| corrupt("its payload is not base64"))?,
        None => Zeroizing::new(Vec::new()),
    };
    if let Some(sent) = &payload.data_crc32c {
        let sent = seconds(sent).ok_or_else(|| corrupt("its dataCrc32c is not a number"))?;
        if sent != u64::from(crc32c::checksum(&bytes)) {
            return Err(corrupt(
                "the payload does not match its CRC32C (dataCrc32c)",
            ));
        }
    }
    Ok(bytes)
}

/// Base64 (standard, as proto3 JSON writes bytes; URL-safe accepted), into a buffer of
/// the decoded size that is wiped when dropped.
fn decode(data: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut bytes = Zeroizing::new(vec![0u8; data.len() / 4 * 3 + 3]);
    let len = STANDARD
        .decode_slice(data.as_bytes(), &mut bytes[..])
        .or_else(|_| URL_SAFE.decode_slice(data.as_bytes(), &mut bytes[..]))
        .ok()?;
    bytes.truncate(len);
    Some(bytes)
}

/// Whether the answer's `name` (`projects/NUMBER/[locations/L/]secrets/S/versions/N`) is a
/// version of the secret asked for. Google names the project by number and the version by
/// number, so an ID or an alias asked for matches any; a number asked for must match.
fn check_name(name: Option<&str>, key: &VersionKey, what: &str) -> Result<(), ProviderError> {
    let matches = name.is_some_and(|name| {
        let parts: Vec<&str> = name.split('/').collect();
        let (project, rest) = match parts.as_slice() {
            ["projects", project, rest @ ..] => (*project, rest),
            _ => return false,
        };
        let (location, rest) = match rest {
            ["locations", location, rest @ ..] => (Some(*location), rest),
            _ => (None, rest),
        };
        let ["secrets", secret, "versions", version] = rest else {
            return false;
        };
        let numeric = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let project_ok = project == key.project || (numeric(project) && !numeric(&key.project));
        let version_ok = *version == key.version || (numeric(version) && !numeric(&key.version));
        project_ok && version_ok && *secret == key.secret && location == key.location.as_deref()
    });
    if matches {
        Ok(())
    } else {
        Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!(
                "Secret Manager answered for `{}` when asked for {what}",
                name.unwrap_or("no version at all")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: &str, version: &str, location: Option<&str>) -> VersionKey {
        VersionKey {
            project: project.into(),
            secret: "db".into(),
            version: version.into(),
            location: location.map(str::to_owned),
        }
    }

    #[test]
    fn answers_must_name_the_secret_asked_for() {
        let ok = |name: &str, key: &VersionKey| check_name(Some(name), key, "x").is_ok();
        let latest = key("my-project", "latest", None);
        assert!(ok("projects/123/secrets/db/versions/7", &latest));
        assert!(ok("projects/my-project/secrets/db/versions/7", &latest));
        assert!(!ok("projects/123/secrets/other/versions/7", &latest));
        assert!(!ok(
            "projects/123/locations/eu/secrets/db/versions/7",
            &latest
        ));
        assert!(!ok("projects/123/secrets/db/versions/7/extra", &latest));
        let pinned = key("123", "3", Some("europe-west1"));
        assert!(ok(
            "projects/123/locations/europe-west1/secrets/db/versions/3",
            &pinned
        ));
        assert!(!ok(
            "projects/123/locations/europe-west1/secrets/db/versions/4",
            &pinned
        ));
        assert!(!ok(
            "projects/456/locations/europe-west1/secrets/db/versions/3",
            &pinned
        ));
        assert!(!ok("projects/123/secrets/db/versions/3", &pinned));
        assert!(check_name(None, &latest, "x").is_err());
    }

    #[test]
    fn payloads_are_checked_against_their_crc32c() {
        let payload = |data: &str, crc: serde_json::Value| Payload {
            data: Some(Zeroizing::new(data.to_owned())),
            data_crc32c: Some(crc),
        };
        // "hello": CRC32C 0x9A71BB4C.
        let good = verified(payload("aGVsbG8=", "2591144780".into()), "x").unwrap();
        assert_eq!(good.as_slice(), b"hello");
        let bad = verified(payload("aGVsbG8=", "2591144781".into()), "x").unwrap_err();
        assert_eq!(bad.kind(), ProviderErrorKind::Protocol);
        assert!(bad.message().contains("CRC32C"), "{bad}");
        assert!(verified(payload("aGVsbG8=", u64::MAX.into()), "x").is_err());
        assert!(verified(payload("not base64!", "0".into()), "x").is_err());
        let unchecked = Payload {
            data: Some(Zeroizing::new("aGVsbG8=".into())),
            data_crc32c: None,
        };
        assert_eq!(verified(unchecked, "x").unwrap().as_slice(), b"hello");
    }
}

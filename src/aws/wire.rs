//! What AWS answers, read: a secret's value (`SecretString`, or `SecretBinary` as base64
//! text) and whether an answer is for the secret or parameter that was asked for. An answer
//! naming anything else is never taken, on any path.

use aws_sdk_secretsmanager::primitives::Blob;
use base64::Engine;
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

/// Whether the secret ID a caller asked for names the secret with this ARN and name: the
/// name, the full ARN, or the ARN without its 6-character random suffix.
pub(crate) fn names_secret(requested: &str, arn: Option<&str>, name: Option<&str>) -> bool {
    if Some(requested) == name || Some(requested) == arn {
        return true;
    }
    match arn {
        Some(arn) if requested.starts_with("arn:") => arn
            .strip_prefix(requested)
            .is_some_and(|suffix| suffix.len() == 7 && suffix.starts_with('-')),
        _ => false,
    }
}

/// A secret's value: its string, or for a binary secret its bytes in standard base64
/// (padded), so that any value is text. The SDK's copies are wiped. `None` when the answer
/// holds neither.
pub(crate) fn secret_value(string: Option<String>, binary: Option<Blob>) -> Option<SecretString> {
    match (string, binary) {
        (Some(mut text), _) => {
            let value = SecretString::from(text.as_str());
            text.zeroize();
            Some(value)
        }
        (None, Some(blob)) => {
            let bytes = Zeroizing::new(blob.into_inner());
            let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*bytes));
            Some(SecretString::from(text.as_str()))
        }
        (None, None) => None,
    }
}

/// Whether a `GetParameters` answer (its `Name`, `Version` and `Selector`) is for
/// `requested`, a name as sent: `/app/db`, `/app/db:3` (a version) or `/app/db:blue` (a
/// label). A version must match the answer's version; a label must match the answer's
/// selector when the answer has one.
pub(crate) fn names_parameter(
    requested: &str,
    name: Option<&str>,
    version: i64,
    selector: Option<&str>,
) -> bool {
    let (base, wanted) = match requested.split_once(':') {
        Some((base, wanted)) => (base, Some(wanted)),
        None => (requested, None),
    };
    if name != Some(base) {
        return false;
    }
    let said = selector.map(|s| s.strip_prefix(':').unwrap_or(s));
    match wanted {
        None => true,
        Some(wanted) => match wanted.parse::<i64>() {
            Ok(number) => version == number && said.is_none_or(|said| said == wanted),
            Err(_) => said.is_none_or(|said| said == wanted),
        },
    }
}

/// A parameter's value as text, the SDK's copy wiped.
pub(crate) fn parameter_value(value: Option<String>) -> Option<SecretString> {
    value.map(|mut text| {
        let value = SecretString::from(text.as_str());
        text.zeroize();
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn requested_ids_match_names_and_arns() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf";
        assert!(names_secret("prod/db", Some(arn), Some("prod/db")));
        assert!(names_secret(arn, Some(arn), Some("prod/db")));
        assert!(names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db",
            Some(arn),
            Some("prod/db")
        ));
        assert!(!names_secret("prod", Some(arn), Some("prod/db")));
        assert!(!names_secret("prod/db", None, None));
        assert!(!names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod",
            Some(arn),
            Some("prod/db")
        ));
    }

    #[test]
    fn binary_secrets_are_base64_text() {
        let value = secret_value(None, Some(Blob::new(vec![0u8, 159, 146, 150]))).unwrap();
        assert_eq!(value.expose_secret(), "AJ+Slg==");
        let text = secret_value(Some("plain".into()), None).unwrap();
        assert_eq!(text.expose_secret(), "plain");
        assert!(secret_value(None, None).is_none());
    }

    #[test]
    fn parameter_answers_match_names_versions_and_labels() {
        assert!(names_parameter("/app/db", Some("/app/db"), 7, None));
        assert!(!names_parameter("/app/db", Some("/app/other"), 7, None));
        assert!(!names_parameter("/app/db", None, 7, None));
        assert!(names_parameter("/app/db:3", Some("/app/db"), 3, Some(":3")));
        assert!(names_parameter("/app/db:3", Some("/app/db"), 3, None));
        assert!(!names_parameter("/app/db:3", Some("/app/db"), 4, None));
        assert!(names_parameter(
            "/app/db:blue",
            Some("/app/db"),
            2,
            Some(":blue")
        ));
        assert!(names_parameter("/app/db:blue", Some("/app/db"), 2, None));
        assert!(!names_parameter(
            "/app/db:blue",
            Some("/app/db"),
            2,
            Some(":green")
        ));
        assert_eq!(
            parameter_value(Some("v".into())).unwrap().expose_secret(),
            "v"
        );
    }
}

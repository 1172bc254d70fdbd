//! The redactor's unit tests: the forms it masks, and its live following of a vault.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::Redactor;
use crate::escape::{COMPONENT, json_escape};
use percent_encoding::utf8_percent_encode;

const SECRET: &str = "s3cr3t/+&= \"é";

fn redactor() -> Redactor {
    Redactor::new([("api-key", SECRET)])
}

#[test]
fn every_encoded_form_is_masked() {
    let r = redactor();
    let forms = [
        SECRET.to_owned(),
        utf8_percent_encode(SECRET, COMPONENT).to_string(),
        url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
        STANDARD.encode(SECRET),
        STANDARD_NO_PAD.encode(SECRET),
        URL_SAFE.encode(SECRET),
        URL_SAFE_NO_PAD.encode(SECRET),
        serde_json::to_string(SECRET)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
    ];
    for form in forms {
        let text = format!("before {form} after");
        assert_eq!(r.redact(&text), "before [vault:api-key] after", "{form}");
    }
}

#[test]
fn basic_credentials_are_decoded_and_masked() {
    let r = redactor();
    let header = format!(
        "Authorization: Basic {}\n",
        STANDARD.encode(format!("user:{SECRET}"))
    );
    assert_eq!(r.redact(&header), "Authorization: Basic [vault:api-key]\n");
    let unrelated = format!("authorization: basic {}", STANDARD.encode("user:other"));
    assert_eq!(r.redact(&unrelated), unrelated);
}

#[test]
fn longest_secret_wins_and_names_are_kept_apart() {
    let r = Redactor::new([("short", "abc"), ("long", "abcdef")]);
    assert_eq!(r.redact("x abcdef y abc"), "x [vault:long] y [vault:short]");
    assert_eq!(r.len(), 2);
    assert!(!format!("{r:?}").contains("abc"));
}

/// The variants issue 15 found unmasked: lowercase percent-encoding, partly encoded
/// values, JSON's `\u0040` and `\/`, base64 of `user:secret` after `Bearer`.
#[test]
fn escapes_in_any_case_or_mix_are_read() {
    let r = Redactor::new([("k", "p@ss/w rd")]);
    let mut json = String::new();
    json_escape("p@ss/w rd", &mut json);
    for form in [
        "p%40ss%2fw%20rd",
        "p%40ss%2Fw%20rd",
        "p@ss%2fw rd",
        "p%40ss/w+rd",
        "p\\u0040ss\\/w rd",
        "p\\u0040ss\\u002fw\\u0020rd",
        json.as_str(),
    ] {
        let text = format!("x={form}&y=1");
        assert_eq!(r.redact(&text), "x=[vault:k]&y=1", "{form}");
    }
    let bearer = format!(
        "Authorization: Bearer {}",
        STANDARD.encode("user:p@ss/w rd")
    );
    assert_eq!(r.redact(&bearer), "Authorization: Bearer [vault:k]");
    let unpadded = format!(
        "authorization: BASIC {}",
        STANDARD_NO_PAD.encode("u:p@ss/w rd")
    );
    assert_eq!(r.redact(&unpadded), "authorization: BASIC [vault:k]");
    assert_eq!(r.redact("100% \\ plain"), "100% \\ plain");
}

#[test]
fn nothing_to_mask_is_fine() {
    let r = Redactor::new(Vec::<(String, String)>::new());
    assert!(r.is_empty());
    assert_eq!(r.redact("plain Basic xyz"), "plain Basic xyz");
}

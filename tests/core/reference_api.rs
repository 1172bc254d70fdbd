//! `SecretReference` beyond its parser: segments, attributes, serde, the conversion into the
//! crate's error, and property tests (round trips, no panics), with the long robustness run.

use proptest::prelude::*;
use request_vault::onepassword::{Attribute, SecretReference};
use request_vault::{ErrorKind, Vault};

#[test]
fn segments_compare_with_strings_exactly() {
    let r: SecretReference = "op://Prod/Postgres/Admin/email".parse().unwrap();
    assert_eq!(r.vault(), "Prod");
    assert_eq!(*r.item(), *"Postgres");
    assert_ne!(r.vault(), "prod");
    assert_eq!(r.section().map(|s| &**s), Some("Admin"));
    assert_eq!(r.field().len(), 5);
}

#[test]
fn segments_match_case_insensitively_and_know_ids() {
    let r: SecretReference = "op://prod/POSTGRES/abcdefghijklmnopqrstuvwxyz"
        .parse()
        .unwrap();
    assert!(r.vault().matches("Prod"));
    assert!(r.item().matches("postgres"));
    assert!(!r.item().matches("postgre"));
    assert!(r.field().is_id());
    assert!(!r.vault().is_id());
    let upper: SecretReference = "op://p/i/ABCDEFGHIJKLMNOPQRSTUVWXYZ".parse().unwrap();
    assert!(!upper.field().is_id(), "IDs are lower-case");
}

#[test]
fn attributes_know_what_they_apply_to() {
    assert!(Attribute::Otp.applies_to_fields() && !Attribute::Otp.applies_to_files());
    assert!(Attribute::Content.applies_to_files() && !Attribute::Content.applies_to_fields());
    assert!(Attribute::Id.applies_to_files() && Attribute::Id.applies_to_fields());
    assert_eq!(Attribute::ALL.len(), 9);
    assert!(Attribute::Totp.is_otp() && Attribute::Otp.is_otp() && !Attribute::Value.is_otp());
}

#[test]
fn serde_round_trips_as_a_string() {
    let r: SecretReference = "op://dev/stripe/api keys/secret?attr=totp".parse().unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"op://dev/stripe/api keys/secret?attribute=totp\"");
    assert_eq!(serde_json::from_str::<SecretReference>(&json).unwrap(), r);
    assert!(serde_json::from_str::<SecretReference>("\"op://a/b\"").is_err());
}

#[test]
fn reference_errors_convert_into_the_crate_error() {
    fn parse(s: &str) -> Result<SecretReference, request_vault::Error> {
        Ok(s.parse::<SecretReference>()?)
    }
    let err = parse("op://a/b").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert!(
        err.to_string()
            .starts_with("invalid secret reference `op://a/b`: "),
        "{err}"
    );
    assert!(matches!(
        err,
        request_vault::Error::InvalidReference {
            offset: Some(8),
            ..
        }
    ));
    // The vault itself refuses references without a scheme before looking for a provider.
    assert_eq!(
        Vault::new()
            .link("x", "Prod/db/password")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidReference
    );
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,24}"
}

fn query() -> impl Strategy<Value = String> {
    let attribute = prop::sample::select(vec![
        "",
        "?attribute=value",
        "?attribute=type",
        "?attribute=id",
        "?attribute=purpose",
        "?attribute=otp",
        "?attribute=content",
        "?attribute=size",
        "?attribute=name",
        "?ssh-format=openssh",
        "?attribute=value&ssh-format=openssh",
    ]);
    attribute.prop_map(str::to_owned)
}

proptest! {
    #[test]
    fn generated_references_round_trip(
        vault in segment(), item in segment(), section in prop::option::of(segment()),
        field in segment(), query in query(),
    ) {
        let mut text = format!("op://{vault}/{item}/");
        if let Some(section) = &section {
            text.push_str(section);
            text.push('/');
        }
        text.push_str(&field);
        text.push_str(&query);
        let parsed: SecretReference = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(parsed.to_string().parse::<SecretReference>().unwrap(), parsed);
    }

    #[test]
    fn arbitrary_strings_never_panic(input in ".{0,80}") {
        let _ = input.parse::<SecretReference>();
    }

    #[test]
    fn near_misses_never_panic(input in "op://[a-z/?&=#% .]{0,40}") {
        if let Ok(parsed) = input.parse::<SecretReference>() {
            prop_assert_eq!(parsed.to_string().parse::<SecretReference>().unwrap(), parsed);
        }
    }
}

/// The robustness run: a million generated inputs, zero panics. Run it with
/// `cargo test --release --test core -- --ignored robustness`.
#[test]
#[ignore = "a long robustness run; see the comment above"]
fn robustness_one_million_inputs() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 1_000_000,
        failure_persistence: None,
        ..Config::default()
    });
    // Half arbitrary Unicode, half near-misses of the grammar.
    let strategy = prop_oneof![
        ".{0,64}",
        "(op|OP|https)?:?/{0,3}[A-Za-z0-9 ._/?&=#%:@-]{0,48}"
    ];
    runner
        .run(&strategy, |input| {
            if let Ok(parsed) = input.parse::<SecretReference>() {
                prop_assert_eq!(
                    parsed.to_string().parse::<SecretReference>().unwrap(),
                    parsed
                );
            }
            Ok(())
        })
        .unwrap();
}

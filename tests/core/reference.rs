//! `SecretReference` against 1Password's documented secret reference syntax: the docs'
//! own examples, edge cases, and every error kind, with its offset and hint
//! (`reference_api.rs` covers the rest of the type and the property tests).

use request_vault::onepassword::{
    Attribute, ReferenceErrorKind as K, SecretReference, SegmentKind, SshFormat,
};

/// (input, vault, item, section, field, attribute, ssh-format, canonical form)
type Valid = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<Attribute>,
    Option<SshFormat>,
    &'static str,
);

const VALID: &[Valid] = &[
    // Examples from 1Password's docs.
    (
        "op://Management/PagerDuty/Admin/email",
        "Management",
        "PagerDuty",
        Some("Admin"),
        "email",
        None,
        None,
        "",
    ),
    (
        "op://dev/Stripe/publishable-key",
        "dev",
        "Stripe",
        None,
        "publishable-key",
        None,
        None,
        "",
    ),
    (
        "op://app-prod/db/password",
        "app-prod",
        "db",
        None,
        "password",
        None,
        None,
        "",
    ),
    (
        "op://app-prod/db/one-time password?attribute=otp",
        "app-prod",
        "db",
        None,
        "one-time password",
        Some(Attribute::Otp),
        None,
        "",
    ),
    (
        "op://development/GitHub/Security/one-time password?attribute=otp",
        "development",
        "GitHub",
        Some("Security"),
        "one-time password",
        Some(Attribute::Otp),
        None,
        "",
    ),
    (
        "op://Private/ssh keys/private key?ssh-format=openssh",
        "Private",
        "ssh keys",
        None,
        "private key",
        None,
        Some(SshFormat::OpenSsh),
        "",
    ),
    (
        "op://dev/stripe/api keys/secret?attribute=otp",
        "dev",
        "stripe",
        Some("api keys"),
        "secret",
        Some(Attribute::Otp),
        None,
        "",
    ),
    (
        "op://Prod/Postgres/password",
        "Prod",
        "Postgres",
        None,
        "password",
        None,
        None,
        "",
    ),
    (
        "op://app-prod/server/ssh/key.pem",
        "app-prod",
        "server",
        Some("ssh"),
        "key.pem",
        None,
        None,
        "",
    ),
    (
        "op://app-prod/server/key.pem?attribute=content",
        "app-prod",
        "server",
        None,
        "key.pem",
        Some(Attribute::Content),
        None,
        "",
    ),
    // Every attribute, and the `attr` and `totp` aliases.
    (
        "op://v/i/f?attribute=value",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Value),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=type",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Type),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=id",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Id),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=purpose",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Purpose),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=totp",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Totp),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=size",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Size),
        None,
        "",
    ),
    (
        "op://v/i/f?attribute=name",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Name),
        None,
        "",
    ),
    (
        "op://v/i/f?attr=otp",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Otp),
        None,
        "op://v/i/f?attribute=otp",
    ),
    (
        "op://v/i/f?attr=content",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Content),
        None,
        "op://v/i/f?attribute=content",
    ),
    (
        "op://v/i/s/f?attribute=value&ssh-format=openssh",
        "v",
        "i",
        Some("s"),
        "f",
        Some(Attribute::Value),
        Some(SshFormat::OpenSsh),
        "",
    ),
    (
        "op://v/i/f?ssh-format=openssh&attribute=value",
        "v",
        "i",
        None,
        "f",
        Some(Attribute::Value),
        Some(SshFormat::OpenSsh),
        "op://v/i/f?attribute=value&ssh-format=openssh",
    ),
    // Spaces, dots, dashes, underscores, digits, IDs.
    (
        "op://My Vault/My Item/My Section/My Field",
        "My Vault",
        "My Item",
        Some("My Section"),
        "My Field",
        None,
        None,
        "",
    ),
    (
        "op://v.1/i_2/f-3",
        "v.1",
        "i_2",
        None,
        "f-3",
        None,
        None,
        "",
    ),
    (
        "op://.hidden/..item/...",
        ".hidden",
        "..item",
        None,
        "...",
        None,
        None,
        "",
    ),
    ("op://0/1/2/3", "0", "1", Some("2"), "3", None, None, ""),
    (
        "op://abcdefghijklmnopqrstuvwxyz/0123456789abcdefghijklmnop/password",
        "abcdefghijklmnopqrstuvwxyz",
        "0123456789abcdefghijklmnop",
        None,
        "password",
        None,
        None,
        "",
    ),
    (
        "op://Prod/zgv4brqz2t4kg7bvpurm5jwtyu/xkxfwbxu7fcb4ewgd2sjqrxqcq/otpfield12345678901234567",
        "Prod",
        "zgv4brqz2t4kg7bvpurm5jwtyu",
        Some("xkxfwbxu7fcb4ewgd2sjqrxqcq"),
        "otpfield12345678901234567",
        None,
        None,
        "",
    ),
    (
        "op://v/ leading space/f",
        "v",
        " leading space",
        None,
        "f",
        None,
        None,
        "",
    ),
    // Names stay case-insensitive: written in any case, they parse as written.
    (
        "op://PROD/postgres/PassWord?attr=otp",
        "PROD",
        "postgres",
        None,
        "PassWord",
        Some(Attribute::Otp),
        None,
        "op://PROD/postgres/PassWord?attribute=otp",
    ),
];

/// (input, expected kind, byte offset)
fn invalid() -> Vec<(&'static str, K, usize)> {
    use SegmentKind::*;
    vec![
        ("", K::Empty, 0),
        ("Prod/Postgres/password", K::MissingScheme, 0),
        ("op:/Prod/Postgres/password", K::MissingScheme, 0),
        ("\"op://Prod/Postgres/password\"", K::MissingScheme, 0),
        (
            "https://Prod/Postgres/password",
            K::WrongScheme {
                scheme: "https".into(),
            },
            0,
        ),
        (
            "pass://Prod/Postgres/password",
            K::WrongScheme {
                scheme: "pass".into(),
            },
            0,
        ),
        // The scheme, query parameter names and their values are case-sensitive, as in
        // 1Password's own parser.
        (
            "OP://Prod/Postgres/password",
            K::WrongScheme {
                scheme: "OP".into(),
            },
            0,
        ),
        (
            "Op://Prod/Postgres/password",
            K::WrongScheme {
                scheme: "Op".into(),
            },
            0,
        ),
        (
            "op://Prod/Postgres/password?attribute=OTP",
            K::UnknownAttribute {
                value: "OTP".into(),
            },
            38,
        ),
        (
            "op://Prod/Postgres/password?ATTRIBUTE=otp",
            K::UnknownQueryKey {
                key: "ATTRIBUTE".into(),
            },
            28,
        ),
        (
            "op://Prod/Postgres/password?Attr=otp",
            K::UnknownQueryKey { key: "Attr".into() },
            28,
        ),
        (
            "op://Prod/Postgres/password?ssh-format=OpenSSH",
            K::UnknownSshFormat {
                value: "OpenSSH".into(),
            },
            39,
        ),
        (
            "op://Prod/Postgres/password?attribute=otp&SSH-FORMAT=openssh",
            K::UnknownQueryKey {
                key: "SSH-FORMAT".into(),
            },
            42,
        ),
        ("op://Prod/Postgres", K::TooFewSegments { found: 2 }, 18),
        ("op://Prod", K::TooFewSegments { found: 1 }, 9),
        ("op://a/b/c/d/e", K::TooManySegments { found: 5 }, 12),
        (
            "op://Prod/CI/CD/token/x/y",
            K::TooManySegments { found: 6 },
            21,
        ),
        ("op://", K::EmptySegment { segment: Vault }, 5),
        ("op:///item/field", K::EmptySegment { segment: Vault }, 5),
        ("op://vault//field", K::EmptySegment { segment: Item }, 11),
        (
            "op://vault/item//field",
            K::EmptySegment { segment: Section },
            16,
        ),
        (
            "op://vault/item/   ",
            K::EmptySegment { segment: Field },
            16,
        ),
        ("op://vault/item/field/", K::TrailingSlash, 21),
        ("op://vault/item/section/field/", K::TrailingSlash, 29),
        (
            "op://vault/it@m/field",
            K::InvalidCharacter {
                character: '@',
                segment: Item,
            },
            13,
        ),
        (
            "op://vault/item/fi%20eld",
            K::InvalidCharacter {
                character: '%',
                segment: Field,
            },
            18,
        ),
        (
            "op://vaült/item/field",
            K::InvalidCharacter {
                character: 'ü',
                segment: Vault,
            },
            7,
        ),
        (
            "op://vault/item/sec:tion/field",
            K::InvalidCharacter {
                character: ':',
                segment: Section,
            },
            19,
        ),
        (
            "op://vault/item/field\n",
            K::InvalidCharacter {
                character: '\n',
                segment: Field,
            },
            21,
        ),
        (
            "op://vault/item/field\t",
            K::InvalidCharacter {
                character: '\t',
                segment: Field,
            },
            21,
        ),
        ("op://vault/item/field#frag", K::Fragment, 21),
        ("op://vault/item/field?attribute=otp#x", K::Fragment, 35),
        ("op://vault/item/field?", K::EmptyQuery, 22),
        ("op://vault/item/field?attribute=otp&", K::EmptyQuery, 36),
        (
            "op://vault/item/field?attribute",
            K::MissingQueryValue {
                key: "attribute".into(),
            },
            22,
        ),
        (
            "op://vault/item/field?format=json",
            K::UnknownQueryKey {
                key: "format".into(),
            },
            22,
        ),
        (
            "op://vault/item/field?attribute=password",
            K::UnknownAttribute {
                value: "password".into(),
            },
            32,
        ),
        (
            "op://vault/item/field?attribute=",
            K::UnknownAttribute { value: "".into() },
            32,
        ),
        (
            "op://vault/item/field?ssh-format=pem",
            K::UnknownSshFormat {
                value: "pem".into(),
            },
            33,
        ),
        (
            "op://vault/item/field?attribute=otp&attribute=value",
            K::RepeatedQueryKey {
                key: "attribute".into(),
            },
            36,
        ),
        (
            "op://vault/item/field?attribute=otp&attr=value",
            K::RepeatedQueryKey { key: "attr".into() },
            36,
        ),
        (
            "op://vault/item/field?ssh-format=openssh&ssh-format=openssh",
            K::RepeatedQueryKey {
                key: "ssh-format".into(),
            },
            41,
        ),
    ]
}

#[test]
fn documented_and_edge_case_references_parse() {
    for &(input, vault, item, section, field, attribute, ssh, canonical) in VALID {
        let r: SecretReference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.vault().as_str(), vault, "{input}");
        assert_eq!(r.item().as_str(), item, "{input}");
        assert_eq!(r.section().map(|s| s.as_str()), section, "{input}");
        assert_eq!(r.field().as_str(), field, "{input}");
        assert_eq!(r.attribute(), attribute, "{input}");
        assert_eq!(r.ssh_format(), ssh, "{input}");
        let expected = if canonical.is_empty() {
            input
        } else {
            canonical
        };
        assert_eq!(r.to_string(), expected, "{input}");
        assert_eq!(
            r.to_string().parse::<SecretReference>().unwrap(),
            r,
            "{input}"
        );
    }
}

#[test]
fn every_error_kind_is_its_own_error_at_its_offset() {
    let cases = invalid();
    for (input, kind, offset) in &cases {
        let err = input.parse::<SecretReference>().unwrap_err();
        assert_eq!(err.kind(), kind, "{input:?}: {err}");
        assert_eq!(err.offset(), *offset, "{input:?}: {err}");
        assert_eq!(err.input(), *input);
        let text = err.to_string();
        assert!(text.contains(&format!("at byte {offset}")), "{text}");
        assert!(
            text.contains("op://<vault>/<item>/[section/]field"),
            "{text}"
        );
    }
    assert!(
        VALID.len() + cases.len() >= 50,
        "{} cases",
        VALID.len() + cases.len()
    );
}

#[test]
fn errors_carry_hints_where_they_help() {
    let too_many = "op://Prod/CI/CD/token/x"
        .parse::<SecretReference>()
        .unwrap_err();
    assert!(
        too_many
            .to_string()
            .contains("a name that holds `/` must be given by its ID")
    );
    let bad_char = "op://Prod/db@1/password"
        .parse::<SecretReference>()
        .unwrap_err();
    assert!(bad_char.to_string().contains("use the ID"), "{bad_char}");
    let quoted = "'op://Prod/db/password'"
        .parse::<SecretReference>()
        .unwrap_err();
    assert!(quoted.to_string().contains("quotation marks"), "{quoted}");
    for (input, hint) in [
        ("OP://Prod/db/password", "scheme is written in lower case"),
        (
            "op://Prod/db/password?ATTR=otp",
            "parameters are written in lower case",
        ),
        (
            "op://Prod/db/password?attr=TOTP",
            "attributes are written in lower case",
        ),
        (
            "op://Prod/db/password?ssh-format=OPENSSH",
            "lower case: `openssh`",
        ),
    ] {
        let err = input.parse::<SecretReference>().unwrap_err();
        assert!(err.to_string().contains(hint), "{err}");
    }
}

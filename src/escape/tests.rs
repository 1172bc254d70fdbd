//! Tests of the escaping door: each part's encoding, finding values, JSON bodies.

use super::json::check_json_placements;
use super::*;
use secrecy::SecretString;

#[test]
fn json_escaping_keeps_values_inside_their_string() {
    let mut out = String::new();
    json_escape("a\"b\\c\nd\u{1}é", &mut out);
    assert_eq!(out, "a\\\"b\\\\c\\nd\\u0001é");
}

#[test]
fn each_part_is_encoded_as_it_needs() {
    let v = values(&[("k", "a b&c=d/é"), ("u", "user")]);
    let t = Template::parse("x/<<vault:k>>").unwrap();
    assert_eq!(
        *encode(Part::Url(&t), &v.get()).unwrap(),
        "x/a%20b%26c%3Dd%2F%C3%A9"
    );
    let pairs = [(
        Template::parse("n m").unwrap(),
        Template::parse("<<vault:k>>").unwrap(),
    )];
    assert_eq!(
        *encode(Part::Pairs(&pairs), &v.get()).unwrap(),
        "n+m=a+b%26c%3Dd%2F%C3%A9"
    );
    let header = Template::parse("<<vault:k>>").unwrap();
    let part = Part::Header {
        template: &header,
        part: "bearer token",
        prefix: "Bearer ",
    };
    assert_eq!(*encode(part, &v.get()).unwrap(), "Bearer a b&c=d/é");
    let (user, password) = (
        Template::parse("<<vault:u>>").unwrap(),
        Template::parse("<<vault:k>>").unwrap(),
    );
    let basic = encode(
        Part::BasicAuth {
            user: &user,
            password: &password,
        },
        &v.get(),
    )
    .unwrap();
    assert_eq!(
        *basic,
        format!("Basic {}", STANDARD.encode("user:a b&c=d/é"))
    );
    let json = Template::parse(r#"{"a": "<<vault:k>>"}"#).unwrap();
    assert_eq!(
        *encode(Part::Json(&json), &v.get()).unwrap(),
        r#"{"a": "a b&c=d/é"}"#
    );
}

#[test]
fn header_errors_name_the_secret_not_the_value() {
    let v = values(&[("k", "line\r\nX-Evil: 1")]);
    let t = Template::parse("<<vault:k>>").unwrap();
    let part = Part::Header {
        template: &t,
        part: "header `X-Key`",
        prefix: "",
    };
    let err = encode(part, &v.get()).unwrap_err();
    assert_eq!(err.secret_name(), Some("k"));
    assert!(!err.to_string().contains("Evil"), "{err}");
}

#[test]
fn values_are_found_by_binding_and_by_name() {
    let names = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let secrets = [
        SecretString::from("A"),
        SecretString::from("B"),
        SecretString::from("C"),
    ];
    let mut template = Template::parse("<<vault:c>>/<<vault:a>>").unwrap();
    let unbound = Values::new(&names, secrets.iter().collect());
    let text = |values: &Values<'_>, template: &Template| {
        render(template, values, |v, out| out.push_str(v)).map(|out| out.to_string())
    };
    assert_eq!(text(&unbound, &template).unwrap(), "C/A");
    template.bind(&names);
    assert_eq!(template.bound(), [2, 0]);
    assert_eq!(text(&unbound, &template).unwrap(), "C/A");
    // Bound to other names, the binding is not trusted: each value is found by name.
    let others = ["c".to_owned(), "x".to_owned(), "a".to_owned()];
    let elsewhere = Values::new(&others, secrets.iter().collect());
    assert_eq!(text(&elsewhere, &template).unwrap(), "A/C");
    let missing = Values::new(&names[..1], secrets[..1].iter().collect());
    let err = text(&missing, &template).unwrap_err();
    assert_eq!(err.secret_name(), Some("c"));
}

/// JSON-like text with placeholders in strings (and, broken on purpose now and then,
/// in escapes, outside strings, cut short or with a stray character).
fn json_like() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        2 => "[a-z é]{0,3}",
        1 => Just(r#"\""#.to_owned()),
        1 => Just(r"\\".to_owned()),
        1 => Just(r"\u00e9".to_owned()),
        1 => Just(r"\ud800".to_owned()),
        1 => Just(r"\n".to_owned()),
        6 => Just("<<vault:v>>".to_owned()),
        1 => Just(r"\u12".to_owned()),
        1 => "[0-9a-f]{2}",
    ];
    let string = proptest::collection::vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()));
    let leaf = prop_oneof![string.clone(), "[0-9]{1,3}", Just("null".to_owned())];
    let value = leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((string.clone(), inner), 0..4).prop_map(|v| {
                let members: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", members.join(", "))
            }),
        ]
    });
    (
        value,
        0..8usize,
        any::<proptest::sample::Index>(),
        "[\\[\\]{},:\"]|<<vault:v>>",
    )
        .prop_map(|(mut text, damage, at, stray)| {
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match damage {
                0 => text.insert_str(at, &stray),
                1 => text.truncate(at),
                _ => {}
            }
            text
        })
}

proptest::proptest! {
    /// Checking the JSON body once, when it is parsed, decides what checking every
    /// rendered body would: a value JSON-escaped into a string never makes or breaks it.
    #[test]
    fn json_checked_once_is_json_rendered(
        text in json_like(),
        value in "(\\PC|[\u{0}-\u{1f}\"\\\\])*",
    ) {
        let Ok(template) = Template::parse(&text) else { return Ok(()) };
        if check_json_placements(&template).is_err() {
            return Ok(());
        }
        let checked = check_json(&template).is_ok();
        let v = values(&[("v", &value)]);
        let body = encode(Part::Json(&template), &v.get()).unwrap();
        let rendered = serde_json::from_str::<serde::de::IgnoredAny>(&body).is_ok();
        proptest::prop_assert_eq!(checked, rendered, "{} -> {}", text, body.as_str());
    }
}

#[test]
fn json_placeholders_stand_inside_strings_outside_escapes() {
    let offset = |text: &str| match Template::parse(text).map(|t| check_json(&t)) {
        Ok(Err(Error::InvalidTemplate { offset, .. })) => Some(offset),
        _ => None,
    };
    assert_eq!(offset(r#"{"a": <<vault:v>>}"#), Some(6));
    assert_eq!(offset(r#"{"a": "\u12<<vault:v>>34"}"#), Some(11));
    assert_eq!(
        offset(r#"{"a": "\<<vault:v>>"}"#),
        None,
        "a literal `<<vault:`"
    );
    for fine in [
        r#"{"<<vault:v>>": "x\"<<vault:v>>", "b": "\u00e9<<vault:v>>\\"}"#,
        r#"["\ud800<<vault:v>>\udc00", "<<vault:v>><<vault:v>>"]"#,
    ] {
        let template = Template::parse(fine).unwrap();
        check_json(&template).unwrap();
        let body = encode(Part::Json(&template), &values(&[("v", "\"\\\u{1}x")]).get());
        serde_json::from_str::<serde::de::IgnoredAny>(&body.unwrap()).unwrap();
    }
}

#[test]
fn json_escaping_matches_serde_json() {
    for value in [
        "",
        "plain",
        "a\"b",
        "back\\slash",
        "\u{0}\u{1f}\u{7f}",
        "é€😀\n\r\t",
    ] {
        let mut out = String::new();
        json_escape(value, &mut out);
        let parsed: String = serde_json::from_str(&format!("\"{out}\"")).unwrap();
        assert_eq!(parsed, value);
    }
}

//! Tests of request templates: parsing each part, and rendering with its escaping.

use super::*;
use crate::escape::values;

#[test]
fn placeholders_outside_json_strings_are_refused() {
    let bad = RequestTemplate::new(Method::POST, "https://x.example/").json("{\"a\": <<vault:k>>}");
    match bad.parsed().unwrap_err() {
        Error::InvalidTemplate { offset, part, .. } => {
            assert_eq!((offset, part.as_str()), (6, "JSON body"))
        }
        other => panic!("{other}"),
    }
    let escaped_quote =
        RequestTemplate::new(Method::POST, "https://x.example/").json(r#"{"a": "x\"<<vault:k>>"}"#);
    assert!(escaped_quote.parsed().is_ok());
    let key =
        RequestTemplate::new(Method::POST, "https://x.example/").json(r#"{"<<vault:k>>": 1}"#);
    assert!(key.parsed().is_ok());
}

#[test]
fn placeholders_in_the_origin_are_refused() {
    for url in [
        "https://<<vault:host>>/x",
        "https://api.example.com:<<vault:port>>/",
        "<<vault:scheme>>://api.example.com/",
        "https://user:<<vault:pw>>@api.example.com/",
    ] {
        let err = RequestTemplate::new(Method::GET, url).parsed().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidRequest, "{url}: {err}");
    }
    let relative = RequestTemplate::new(Method::GET, "/relative")
        .parsed()
        .unwrap_err();
    assert!(relative.to_string().contains("absolute"), "{relative}");
}

#[test]
fn url_offsets_count_from_the_start_of_the_url() {
    let err = RequestTemplate::new(Method::GET, "https://a.example/x/<<vault:oops")
        .parsed()
        .unwrap_err();
    match err {
        Error::InvalidTemplate { offset, .. } => assert_eq!(offset, 20),
        other => panic!("{other}"),
    }
}

#[test]
fn each_component_is_percent_encoded() {
    let t = RequestTemplate::new(
        Method::GET,
        "https://a.example/p/<<vault:v>>/q?x=<<vault:v>>&y=1#<<vault:v>>",
    );
    let parsed = t.parsed().unwrap();
    let url = parsed
        .render_url(&values(&[("v", "a/b?c&d=e#f% g+é")]))
        .unwrap();
    let encoded = "a%2Fb%3Fc%26d%3De%23f%25%20g%2B%C3%A9";
    assert_eq!(
        url.as_str(),
        format!("https://a.example/p/{encoded}/q?x={encoded}&y=1#{encoded}")
    );
    assert_eq!(url.path_segments().unwrap().count(), 3);
}

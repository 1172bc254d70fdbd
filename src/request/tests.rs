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
        .render_url(&values(&[("v", "a/b?c&d=e#f% g+é")]).get())
        .unwrap();
    let encoded = "a%2Fb%3Fc%26d%3De%23f%25%20g%2B%C3%A9";
    assert_eq!(
        url.as_str(),
        format!("https://a.example/p/{encoded}/q?x={encoded}&y=1#{encoded}")
    );
    assert_eq!(url.path_segments().unwrap().count(), 3);
}

#[test]
fn a_json_body_that_is_not_json_is_refused_when_parsed() {
    for body in [
        r#"{"a": "<<vault:k>>""#,
        r#"{"a": "<<vault:k>>",}"#,
        r#"{"a": "\q<<vault:k>>"}"#,
    ] {
        let template = RequestTemplate::new(Method::POST, "https://x.example/").json(body);
        let err = template.parsed().unwrap_err();
        assert_eq!(
            err.kind(),
            crate::ErrorKind::InvalidRequest,
            "{body}: {err}"
        );
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
    let fine = RequestTemplate::new(Method::POST, "https://x.example/")
        .json(r#"{"a": "<<vault:k>>", "b": ["x<<vault:k>>y", 1]}"#);
    assert!(fine.parsed().is_ok());
}

#[test]
fn literal_headers_are_made_once_and_checked_when_parsed() {
    let bad = RequestTemplate::new(Method::GET, "https://x.example/").header("X-Bad", "a\u{1}b");
    let err = bad.parsed().unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("X-Bad"), "{err}");

    let template = RequestTemplate::new(Method::POST, "https://x.example/")
        .header("Content-Type", "application/vnd.api+json")
        .header("X-Plain", r"literal \<<vault:x>>")
        .header("X-Key", "k=<<vault:k>>")
        .bearer_auth("<<vault:k>>")
        .json(r#"{"k": "<<vault:k>>"}"#);
    let parsed = template.parsed().unwrap();
    let request = parsed
        .render(&reqwest::Client::new(), &values(&[("k", "v\"1")]).get())
        .unwrap();
    let headers = request.headers();
    let types: Vec<_> = headers.get_all("content-type").iter().collect();
    assert_eq!(
        types,
        ["application/vnd.api+json"],
        "a given type is kept alone"
    );
    assert_eq!(headers["x-plain"], "literal <<vault:x>>");
    assert!(!headers["x-plain"].is_sensitive());
    assert_eq!(headers["x-key"], "k=v\"1");
    assert!(headers["x-key"].is_sensitive());
    assert_eq!(headers["authorization"], "Bearer v\"1");
    assert!(headers["authorization"].is_sensitive());
    let body = request.body().and_then(reqwest::Body::as_bytes).unwrap();
    assert_eq!(body, br#"{"k": "v\"1"}"#);
}

#[test]
fn the_secrets_of_headers_and_body_are_known_from_the_templates() {
    let template = RequestTemplate::new(Method::POST, "https://x.example/<<vault:p>>")
        .header("X-Plain", "plain")
        .header("X-Key", "<<vault:a>>-<<vault:b>>")
        .basic_auth("<<vault:u>>", "<<vault:w>>")
        .form([("n", "<<vault:f>>"), ("<<vault:g>>", "<<vault:f>>")]);
    let parsed = template.parsed().unwrap();
    let headers: Vec<(String, Vec<String>)> = parsed
        .secret_headers()
        .into_iter()
        .map(|(name, names)| (name.to_string(), names))
        .collect();
    assert_eq!(
        headers,
        [
            ("x-key".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
            (
                "authorization".to_owned(),
                vec!["u".to_owned(), "w".to_owned()]
            ),
        ]
    );
    assert_eq!(parsed.body_names(), ["f", "g"]);
    assert_eq!(parsed.names(), ["p", "a", "b", "u", "w", "f", "g"]);
}

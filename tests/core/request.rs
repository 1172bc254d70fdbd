//! Templates rendered into real requests, against a server on 127.0.0.1 that records the
//! exact bytes it receives; redirects, re-fetching on 401, and redaction.

use crate::common;

use base64::Engine as _;
use common::MapProvider;
use common::http::{HttpServer, Reply};
use request_vault::{Error, ErrorKind, ExposeSecret, Redactor, RequestTemplate, Vault};
use reqwest::Method;

/// A value with every character that needs care: `& = # / % space "` and non-ASCII.
const TRICKY: &str = "a&b=c#d/e%f g\"h+é";
const TRICKY_COMPONENT: &str = "a%26b%3Dc%23d%2Fe%25f%20g%22h%2B%C3%A9";
const TRICKY_FORM: &str = "a%26b%3Dc%23d%2Fe%25f+g%22h%2B%C3%A9";

fn vault_with_tricky() -> Vault {
    let vault = Vault::new();
    vault.set("tricky", TRICKY).unwrap();
    vault.set("user", "admin").unwrap();
    vault
}

#[tokio::test]
async fn every_part_gets_its_escaping_on_the_wire() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let send = |template: RequestTemplate| {
        let vault = vault.clone();
        async move {
            let response = vault.send(&template).await.unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    let base = server.url();
    send(
        RequestTemplate::new(
            Method::GET,
            format!("{base}/p/<<vault:tricky>>/x?q=<<vault:tricky>>&n=1"),
        )
        .query("k<<vault:user>>", "<<vault:tricky>>"),
    )
    .await;
    send(
        RequestTemplate::new(Method::GET, format!("{base}/h"))
            .header("X-Secret", "pre <<vault:tricky>> post"),
    )
    .await;
    send(
        RequestTemplate::new(Method::GET, format!("{base}/b"))
            .basic_auth("<<vault:user>>", "<<vault:tricky>>"),
    )
    .await;
    send(RequestTemplate::new(Method::GET, format!("{base}/t")).bearer_auth("<<vault:tricky>>"))
        .await;
    send(
        RequestTemplate::new(Method::POST, format!("{base}/j"))
            .json(r#"{"user": "<<vault:user>>", "secret": "x<<vault:tricky>>y"}"#),
    )
    .await;
    send(
        RequestTemplate::new(Method::POST, format!("{base}/f"))
            .form([("secret", "<<vault:tricky>>"), ("<<vault:user>>", "1")]),
    )
    .await;
    send(RequestTemplate::new(Method::PUT, format!("{base}/r")).body("raw <<vault:tricky>>")).await;

    let got = server.received();
    assert_eq!(got.len(), 7);
    assert_eq!(
        got[0].request_line(),
        format!(
            "GET /p/{TRICKY_COMPONENT}/x?q={TRICKY_COMPONENT}&n=1&kadmin={TRICKY_FORM} HTTP/1.1"
        )
    );
    assert_eq!(
        got[1].header("x-secret").unwrap().as_bytes(),
        format!("pre {TRICKY} post").as_bytes()
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{TRICKY}"));
    assert_eq!(
        got[2].header("authorization").unwrap(),
        format!("Basic {basic}")
    );
    assert_eq!(
        got[3].header("authorization").unwrap(),
        format!("Bearer {TRICKY}")
    );
    assert_eq!(got[4].header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(got[4].body.clone()).unwrap(),
        r#"{"user": "admin", "secret": "xa&b=c#d/e%f g\"h+éy"}"#
    );
    let parsed: serde_json::Value = serde_json::from_slice(&got[4].body).unwrap();
    assert_eq!(parsed["secret"], format!("x{TRICKY}y"));
    assert_eq!(
        got[5].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(got[5].body.clone()).unwrap(),
        format!("secret={TRICKY_FORM}&admin=1")
    );
    assert_eq!(
        String::from_utf8(got[6].body.clone()).unwrap(),
        format!("raw {TRICKY}")
    );
}

#[tokio::test]
async fn rendered_headers_with_secrets_are_sensitive() {
    let vault = vault_with_tricky();
    let template = RequestTemplate::new(Method::GET, "https://api.example.com/")
        .header("X-Secret", "<<vault:user>>")
        .header("Accept", "text/plain");
    let request = vault
        .render_request(&reqwest::Client::new(), &template)
        .await
        .unwrap();
    assert!(request.headers()["x-secret"].is_sensitive());
    assert!(!request.headers()["accept"].is_sensitive());
    assert!(
        !format!("{request:?}").contains("admin"),
        "sensitive headers do not print"
    );
}

#[tokio::test]
async fn header_injection_is_refused_naming_header_and_secret() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    vault.set("evil", "x\r\nX-Injected: yes").unwrap();
    vault.set("nul", "a\0b").unwrap();
    for (header, name) in [("X-A", "evil"), ("X-B", "nul")] {
        let template = RequestTemplate::new(Method::GET, server.url())
            .header(header, format!("<<vault:{name}>>"));
        let err = vault.send(&template).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert_eq!(err.secret_name(), Some(name));
        let text = err.to_string();
        assert!(text.contains(&format!("header `{header}`")), "{text}");
        assert!(
            !text.contains("Injected") && !text.contains("a\0b"),
            "{text}"
        );
    }
    let err = vault
        .send(&RequestTemplate::new(Method::GET, server.url()).bearer_auth("<<vault:evil>>"))
        .await
        .unwrap_err();
    assert_eq!(err.secret_name(), Some("evil"));
    assert!(server.received().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn malformed_templates_fail_before_anything_is_fetched() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault.link("key", &provider.insert("key", "v")).unwrap();
    let client = reqwest::Client::new();
    let cases = [
        RequestTemplate::new(Method::GET, "https://<<vault:key>>.example.com/"),
        RequestTemplate::new(Method::GET, "https://api.example.com:<<vault:key>>/"),
        RequestTemplate::new(Method::GET, "https://api.example.com/<<vault:key"),
        RequestTemplate::new(Method::POST, "https://api.example.com/")
            .json("{\"n\": <<vault:key>>}"),
        RequestTemplate::new(Method::GET, "https://api.example.com/")
            .header("X-<<vault:key>>", "v"),
        RequestTemplate::new(Method::GET, "https://api.example.com/").header("Bad Header", "v"),
        RequestTemplate::new(Method::GET, "not a url"),
    ];
    for template in &cases {
        let err = vault.render_request(&client, template).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::InvalidRequest | ErrorKind::InvalidTemplate
            ),
            "{err}"
        );
    }
    assert_eq!(provider.fetched(), 0);
    let err = vault.render_request(&client, &cases[0]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("host must be known before any secret is fetched"),
        "{err}"
    );
}

#[tokio::test]
async fn off_domain_secrets_are_refused_before_any_fetch() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault
        .link("linked", &provider.insert("linked", "v"))
        .unwrap();
    vault
        .set_allowed_domains("linked", ["api.example.com"])
        .unwrap();
    vault.set("local", "l").unwrap();
    vault
        .set_allowed_domains("local", ["*.example.org"])
        .unwrap();
    let template = RequestTemplate::new(Method::GET, format!("{}/<<vault:linked>>", server.url()))
        .header("X", "<<vault:local>>");
    let err = vault.send(&template).await.unwrap_err();
    let violations: Vec<(Option<&str>, ErrorKind)> = err
        .errors()
        .iter()
        .map(|e| (e.secret_name(), e.kind()))
        .collect();
    assert_eq!(
        violations,
        [
            (Some("linked"), ErrorKind::DomainNotAllowed),
            (Some("local"), ErrorKind::DomainNotAllowed)
        ]
    );
    assert!(err.to_string().contains("host `127.0.0.1`"), "{err}");
    assert_eq!(provider.fetched(), 0, "no provider call");
    assert!(server.received().is_empty());

    vault.set_allowed_domains("linked", ["127.0.0.1"]).unwrap();
    vault
        .set_allowed_domains("local", ["http://127.0.0.1:1"])
        .unwrap();
    vault.send(&template).await.unwrap();
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn unknown_names_fail_the_whole_request_listing_all() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let template = RequestTemplate::new(Method::GET, format!("{}/<<vault:a>>", server.url()))
        .header("X", "<<vault:b>> <<vault:user>>");
    let err = vault.send(&template).await.unwrap_err();
    let names: Vec<_> = err.errors().iter().filter_map(Error::secret_name).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        server.received().is_empty(),
        "the placeholder text is never sent"
    );
    let text = vault
        .render("<<vault:a>> <<vault:user>> <<vault:c>>")
        .await
        .unwrap_err();
    assert_eq!(text.errors().len(), 2);
}

#[tokio::test]
async fn redirects_within_the_origin_keep_secrets() {
    let server = HttpServer::with_handler(|r| match r.request_line() {
        l if l.starts_with("GET /start") => Reply::redirect(302, "/next"),
        _ => Reply::ok("done"),
    })
    .await;
    let vault = vault_with_tricky();
    let template = RequestTemplate::new(Method::GET, format!("{}/start", server.url()))
        .header("X-Key", "<<vault:user>>");
    let response = vault.send(&template).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].request_line(), "GET /next HTTP/1.1");
    assert_eq!(got[1].header("x-key"), Some("admin"));
}

#[tokio::test]
async fn cross_host_redirects_fail_closed_or_drop_secret_headers() {
    let target = HttpServer::start().await;
    let to = format!("{}/landing", target.localhost_url());
    let origin = HttpServer::with_handler(move |_| Reply::redirect(307, &to)).await;
    let vault = Vault::new();
    vault.set("restricted", "r-value").unwrap();
    vault
        .set_allowed_domains("restricted", ["127.0.0.1"])
        .unwrap();
    vault.set("free", "f-value").unwrap();
    vault.set("both", "b-value").unwrap();
    vault
        .set_allowed_domains("both", ["127.0.0.1", "localhost"])
        .unwrap();

    // A restricted secret may not follow to localhost: fail closed.
    let err = vault
        .send(
            &RequestTemplate::new(Method::GET, origin.url()).header("X-R", "<<vault:restricted>>"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DomainNotAllowed, "{err}");
    assert!(err.to_string().contains("host `localhost`"), "{err}");
    assert!(target.received().is_empty());

    // An unrestricted secret's header is dropped on the cross-origin hop, as is
    // Authorization; an explicitly allowed one is kept; a literal header stays.
    let template = RequestTemplate::new(Method::POST, origin.url())
        .header("X-Free", "<<vault:free>>")
        .header("X-Both", "<<vault:both>>")
        .header("X-Plain", "plain")
        .header("Authorization", "Token literal")
        .body("payload");
    let response = vault.send(&template).await.unwrap();
    assert_eq!(response.status(), 200);
    let landed = &target.received()[0];
    assert_eq!(
        landed.request_line(),
        "POST /landing HTTP/1.1",
        "307 keeps the method"
    );
    assert_eq!(landed.body, b"payload");
    assert_eq!(landed.header("x-free"), None);
    assert_eq!(landed.header("authorization"), None);
    assert_eq!(landed.header("x-both"), Some("b-value"));
    assert_eq!(landed.header("x-plain"), Some("plain"));
}

#[tokio::test]
async fn see_other_becomes_a_get_without_body() {
    let server = HttpServer::with_handler(|r| {
        if r.request_line().starts_with("POST") {
            Reply::redirect(303, "/result")
        } else {
            Reply::ok("ok")
        }
    })
    .await;
    let vault = vault_with_tricky();
    let template = RequestTemplate::new(Method::POST, format!("{}/submit", server.url()))
        .json(r#"{"a": "<<vault:user>>"}"#);
    vault.send(&template).await.unwrap();
    let got = server.received();
    assert_eq!(got[1].request_line(), "GET /result HTTP/1.1");
    assert!(got[1].body.is_empty());
    assert_eq!(got[1].header("content-type"), None);
}

#[tokio::test]
async fn redirect_loops_stop() {
    let server = HttpServer::with_handler(|_| Reply::redirect(302, "/again")).await;
    let err = Vault::new()
        .send(&RequestTemplate::new(Method::GET, server.url()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRedirects { max: 10 }), "{err}");
    assert_eq!(server.received().len(), 11);
}

#[tokio::test]
async fn a_rotated_secret_recovers_after_one_refetch() {
    let server = HttpServer::accepting_bearer("new-token").await;
    let (vault, provider) = common::vault_with_rotated_token().await;
    let template = RequestTemplate::new(Method::GET, server.url()).bearer_auth("<<vault:token>>");
    let response = vault.send(&template).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "welcome");
    assert_eq!(server.received().len(), 2);
    assert_eq!(provider.fetched(), 2);

    // Without a cached value to blame, a 401 is returned as it is.
    let fresh = Vault::new();
    fresh.set("token", "wrong").unwrap();
    let response = fresh
        .send(&RequestTemplate::new(Method::GET, server.url()).bearer_auth("<<vault:token>>"))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn the_redactor_masks_what_the_server_saw() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault
        .link("linked", &provider.insert("linked", "linked-Value-42"))
        .unwrap();
    let template = RequestTemplate::new(
        Method::POST,
        format!("{}/p/<<vault:tricky>>?x=<<vault:linked>>", server.url()),
    )
    .basic_auth("<<vault:user>>", "<<vault:tricky>>")
    .header("X-Linked", "<<vault:linked>>")
    .json(r#"{"s": "<<vault:tricky>>"}"#);
    vault.send(&template).await.unwrap();
    let got = &server.received()[0];
    let seen = format!("{}\n\n{}", got.head, String::from_utf8_lossy(&got.body));
    let redacted = vault.redactor().redact(&seen);
    for secret in [TRICKY, TRICKY_COMPONENT, "linked-Value-42"] {
        assert!(!redacted.contains(secret), "{redacted}");
    }
    assert!(
        !redacted
            .contains(&base64::engine::general_purpose::STANDARD.encode(format!("admin:{TRICKY}")))
    );
    assert!(
        redacted.contains("[vault:tricky]") && redacted.contains("[vault:linked]"),
        "{redacted}"
    );
    let custom = Redactor::new([("x", "linked-Value-42")]);
    assert_eq!(custom.redact("a linked-Value-42 b"), "a [vault:x] b");
    assert_eq!(
        vault.resolve("linked").await.unwrap().expose_secret(),
        "linked-Value-42"
    );
}

#[tokio::test]
async fn a_dot_segment_value_never_moves_the_request() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    let template = RequestTemplate::new(
        Method::DELETE,
        format!("{}/v1/users/<<vault:user>>/sessions", server.url()),
    );
    for value in ["..", "."] {
        vault.set("user", value).unwrap();
        let err = vault.send(&template).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert_eq!(err.secret_name(), Some("user"));
        assert!(err.to_string().contains("URL path"), "{err}");
        let request = vault
            .render_request(&reqwest::Client::new(), &template)
            .await;
        assert!(request.is_err(), "render_request refuses it too");
    }
    assert!(
        server.received().is_empty(),
        "nothing reached the server, least of all DELETE /v1/sessions"
    );

    // The literal text around a placeholder counts: `a.` is no dot segment, `..` is.
    vault.set("dot", ".").unwrap();
    let base = server.url();
    for (path, refused) in [
        ("/a<<vault:dot>>/x", false),
        ("/<<vault:dot>>a/x", false),
        ("/<<vault:dot>>./x", true),
        ("/.<<vault:dot>>/x", true),
        ("/%2E<<vault:dot>>/x", true),
        ("/<<vault:dot>>%2e/x", true),
        ("/<<vault:dot>><<vault:dot>>/x", true),
        ("/x/<<vault:dot>>", true),
        ("/x?q=<<vault:dot>>", false),
    ] {
        let template = RequestTemplate::new(Method::GET, format!("{base}{path}"));
        let sent = vault.send(&template).await;
        assert_eq!(sent.is_err(), refused, "{path}: {sent:?}");
        if let Err(err) = sent {
            assert_eq!(err.secret_name(), Some("dot"), "{path}: {err}");
        }
    }
    let lines: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.request_line().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /a./x HTTP/1.1",
            "GET /.a/x HTTP/1.1",
            "GET /x?q=. HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn a_client_that_follows_redirects_itself_is_reported() {
    let target = HttpServer::start().await;
    let to = format!("{}/landing", target.localhost_url());
    let origin = HttpServer::with_handler(move |_| Reply::redirect(302, &to)).await;
    // Against the documented contract of VaultBuilder::client: reqwest's default policy.
    let vault = Vault::builder().client(reqwest::Client::new()).build();
    vault.set("free", "f-value").unwrap();
    let err = vault
        .send(&RequestTemplate::new(Method::GET, origin.url()).header("X-Free", "<<vault:free>>"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("Policy::none()"), "{err}");
}

//! `VaultMiddleware` in a `reqwest-middleware` client, against servers on 127.0.0.1 that
//! record the exact bytes they receive: every part rendered with its escaping, the
//! guarantees of `Vault::send` (domains before fetching, CR/LF, unknown names, redirects
//! hop by hop, the refetch after a 401), whatever the client's redirect policy.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use common::MapProvider;
use common::http::{HttpServer, Received, Reply};
use request_vault::middleware::VaultMiddleware;
use request_vault::{Error, ErrorKind, Vault};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

/// A value with every character that needs care: `& = # / % space "` and non-ASCII.
const TRICKY: &str = "a&b=c#d/e%f g\"h+é";
const TRICKY_COMPONENT: &str = "a%26b%3Dc%23d%2Fe%25f%20g%22h%2B%C3%A9";
const TRICKY_FORM: &str = "a%26b%3Dc%23d%2Fe%25f+g%22h%2B%C3%A9";

/// Counts the requests that reach the rest of the chain after the vault's middleware.
#[derive(Clone, Default)]
struct Downstream(Arc<AtomicUsize>);

impl Downstream {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[request_vault::async_trait]
impl Middleware for Downstream {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.run(request, extensions).await
    }
}

fn vault_with_tricky() -> Vault {
    let vault = Vault::new();
    vault.set("tricky", TRICKY).unwrap();
    vault.set("user", "admin").unwrap();
    vault
}

/// A client whose inner client never follows redirects (as DESIGN shows), or one with
/// reqwest's default policy, which follows up to ten.
fn client(vault: &Vault, follows: bool) -> ClientWithMiddleware {
    let inner = if follows {
        reqwest::Client::new()
    } else {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    ClientBuilder::new(inner)
        .with(VaultMiddleware::new(vault.clone()))
        .build()
}

/// The crate's error inside a middleware error.
fn vault_error(err: &reqwest_middleware::Error) -> &Error {
    match err {
        reqwest_middleware::Error::Middleware(inner) => inner
            .downcast_ref::<Error>()
            .unwrap_or_else(|| panic!("not the crate's error: {inner}")),
        other => panic!("not a middleware error: {other}"),
    }
}

fn text(received: &Received) -> String {
    format!(
        "{}\n\n{}",
        received.head,
        String::from_utf8_lossy(&received.body)
    )
}

#[tokio::test]
async fn url_and_header_placeholders_are_rendered_encoded_or_raw() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let client = client(&vault, false);
    // reqwest percent-encodes the path's and query's `<` and `>`.
    let response = client
        .get(format!(
            "{}/p/<<vault:tricky>>/x?q=<<vault:tricky>>&n=1",
            server.url()
        ))
        .header("X-Secret", "pre <<vault:tricky>> post")
        .header("X-Plain", "plain")
        .bearer_auth("<<vault:user>>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A form serializer encodes the colon too.
    let mut url = reqwest::Url::parse(&format!("{}/form-query", server.url())).unwrap();
    url.query_pairs_mut()
        .append_pair("k", "<<vault:tricky>>")
        .append_pair("u", "x<<vault:user>>y");
    assert!(url.as_str().contains("%3C%3Cvault%3Atricky%3E%3E"), "{url}");
    client.get(url).send().await.unwrap();

    let got = server.received();
    assert_eq!(
        got[0].request_line(),
        format!("GET /p/{TRICKY_COMPONENT}/x?q={TRICKY_COMPONENT}&n=1 HTTP/1.1")
    );
    assert_eq!(
        got[0].header("x-secret").unwrap().as_bytes(),
        format!("pre {TRICKY} post").as_bytes()
    );
    assert_eq!(got[0].header("x-plain"), Some("plain"));
    assert_eq!(got[0].header("authorization"), Some("Bearer admin"));
    assert_eq!(
        got[1].request_line(),
        format!("GET /form-query?k={TRICKY_COMPONENT}&u=xadminy HTTP/1.1")
    );
}

#[tokio::test]
async fn basic_auth_placeholders_are_rendered_inside_the_base64() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    client(&vault, false)
        .get(server.url())
        .basic_auth("<<vault:user>>", Some("<<vault:tricky>>"))
        .send()
        .await
        .unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("admin:{TRICKY}"));
    assert_eq!(
        server.received()[0].header("authorization"),
        Some(format!("Basic {expected}").as_str())
    );
}

#[tokio::test]
async fn bodies_are_escaped_by_content_type() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let client = client(&vault, false);
    let post = |content_type: &'static str, body: &'static str| {
        client
            .post(format!("{}/b", server.url()))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    post(
        "application/json",
        r#"{"user": "<<vault:user>>", "secret": "x<<vault:tricky>>y"}"#,
    )
    .await
    .unwrap();
    post(
        "application/merge-patch+json; charset=utf-8",
        r#"{"s": "<<vault:tricky>>"}"#,
    )
    .await
    .unwrap();
    post(
        "application/x-www-form-urlencoded",
        "raw=<<vault:tricky>>&encoded=%3C%3Cvault%3Atricky%3E%3E&n=1",
    )
    .await
    .unwrap();
    // A Content-Length set by hand is the template's, not the rendered body's.
    client
        .post(format!("{}/b", server.url()))
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(CONTENT_LENGTH, "20")
        .body("raw <<vault:tricky>>")
        .send()
        .await
        .unwrap();

    let got = server.received();
    assert_eq!(got.len(), 4);
    let json = String::from_utf8(got[0].body.clone()).unwrap();
    assert_eq!(
        json,
        r#"{"user": "admin", "secret": "xa&b=c#d/e%f g\"h+éy"}"#
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        parsed["secret"],
        format!("x{TRICKY}y"),
        "the quote stays inside"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(parsed["s"], TRICKY);
    assert_eq!(
        String::from_utf8(got[2].body.clone()).unwrap(),
        format!("raw={TRICKY_FORM}&encoded={TRICKY_FORM}&n=1")
    );
    assert_eq!(
        got[2].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(got[3].body.clone()).unwrap(),
        format!("raw {TRICKY}")
    );
    for received in &got {
        assert_eq!(
            received.header("content-length"),
            Some(received.body.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_placeholder_in_a_body_of_unknown_escaping_is_refused() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let client = client(&vault, false);
    for content_type in [
        Some("application/xml"),
        Some("application/octet-stream"),
        None,
    ] {
        let mut request = client.post(server.url()).body("<v><<vault:tricky>></v>");
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let err = request.send().await.unwrap_err();
        let err = vault_error(&err);
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert!(err.to_string().contains("Content-Type"), "{err}");
    }
    // Not UTF-8, or outside a JSON string: refused too.
    let mut bytes = b"x <<vault:tricky>> ".to_vec();
    bytes.push(0xff);
    for (content_type, body) in [
        ("text/plain", bytes),
        ("application/json", br#"{"n": <<vault:tricky>>}"#.to_vec()),
    ] {
        let err = client
            .post(server.url())
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(
                vault_error(&err).kind(),
                ErrorKind::InvalidRequest | ErrorKind::InvalidTemplate
            ),
            "{err}"
        );
    }
    assert!(server.received().is_empty(), "no placeholder was sent");
}

#[tokio::test]
async fn unknown_names_fail_closed_listing_all() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let err = client(&vault, false)
        .get(format!("{}/<<vault:a>>", server.url()))
        .header("X", "<<vault:b>> <<vault:user>>")
        .send()
        .await
        .unwrap_err();
    let names: Vec<_> = vault_error(&err)
        .errors()
        .iter()
        .map(|e| (e.secret_name(), e.kind()))
        .collect();
    assert_eq!(
        names,
        [
            (Some("a"), ErrorKind::NotFound),
            (Some("b"), ErrorKind::NotFound)
        ]
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_host_not_allowed_is_refused_before_any_fetch() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault
        .link("linked", &provider.insert("linked", "linked-value"))
        .unwrap();
    vault
        .set_allowed_domains("linked", ["api.example.com"])
        .unwrap();
    let client = client(&vault, false);
    let err = client
        .get(server.url())
        .header("X-Key", "<<vault:linked>>")
        .send()
        .await
        .unwrap_err();
    let err = vault_error(&err);
    assert_eq!(err.kind(), ErrorKind::DomainNotAllowed, "{err}");
    assert_eq!(err.secret_name(), Some("linked"));
    assert!(err.to_string().contains("host `127.0.0.1`"), "{err}");
    assert_eq!(provider.fetched(), 0, "nothing was fetched");
    assert!(server.received().is_empty());

    vault.set_allowed_domains("linked", ["127.0.0.1"]).unwrap();
    client
        .get(server.url())
        .header("X-Key", "<<vault:linked>>")
        .send()
        .await
        .unwrap();
    assert_eq!(provider.fetched(), 1);
    assert_eq!(server.received()[0].header("x-key"), Some("linked-value"));
}

#[tokio::test]
async fn header_injection_is_refused_naming_header_and_secret() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    vault.set("evil", "x\r\nX-Injected: yes").unwrap();
    let err = client(&vault, false)
        .get(server.url())
        .header("X-A", "<<vault:evil>>")
        .send()
        .await
        .unwrap_err();
    let err = vault_error(&err);
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(err.secret_name(), Some("evil"));
    assert!(err.to_string().contains("header `x-a`"), "{err}");
    assert!(!err.to_string().contains("Injected"), "{err}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_dot_segment_value_is_refused() {
    let server = HttpServer::start().await;
    let vault = Vault::new();
    vault.set("user", "..").unwrap();
    let err = client(&vault, false)
        .delete(format!("{}/v1/users/<<vault:user>>/sessions", server.url()))
        .send()
        .await
        .unwrap_err();
    let err = vault_error(&err);
    assert_eq!(err.secret_name(), Some("user"), "{err}");
    assert!(err.to_string().contains("URL path"), "{err}");
    assert!(
        server.received().is_empty(),
        "DELETE /v1/sessions was not sent"
    );
}

#[tokio::test]
async fn a_rotated_secret_recovers_after_one_refetch() {
    let server = HttpServer::accepting_bearer("new-token").await;
    let (vault, provider) = common::vault_with_rotated_token().await;
    let response = client(&vault, false)
        .post(server.url())
        .bearer_auth("<<vault:token>>")
        .header(CONTENT_TYPE, "text/plain")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "welcome");
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body, b"payload", "the body was sent again");
    assert_eq!(provider.fetched(), 2);
}

#[tokio::test]
async fn a_streaming_body_is_sent_once_and_never_resent() {
    let server = HttpServer::with_handler(|_| Reply::status(401)).await;
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault.link("token", &provider.insert("token", "t")).unwrap();
    vault.resolve("token").await.unwrap();
    let response = client(&vault, false)
        .put(server.url())
        .header("X-Token", "<<vault:token>>")
        .body(reqwest::Body::wrap(String::from("streamed")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "no refetch: the body cannot be re-sent"
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-token"), Some("t"));
    assert_eq!(got[0].body, b"streamed");
}

/// A 307 from one server to another origin (the same loopback port under `localhost`),
/// with a secret in a custom header, in `Authorization` and in the re-sent body: the
/// second server must see none of them, whatever the inner client's policy.
#[tokio::test]
async fn a_cross_origin_redirect_carries_no_secret_whatever_the_client() {
    for follows in [false, true] {
        let target = HttpServer::start().await;
        let to = format!("{}/landing", target.localhost_url());
        let origin = HttpServer::with_handler(move |r| {
            if r.request_line().contains("/start") {
                Reply::redirect(307, &to)
            } else {
                Reply::redirect(303, &to)
            }
        })
        .await;
        let vault = Vault::new();
        vault.set("key", "key-value-1").unwrap();
        vault.set("token", "token-value-2").unwrap();
        vault.set("restricted", "restricted-value-3").unwrap();
        vault
            .set_allowed_domains("restricted", ["127.0.0.1"])
            .unwrap();
        let client = client(&vault, follows);

        // Unrestricted secrets in headers: dropped on the hop; the request lands.
        let response = client
            .get(format!("{}/start", origin.url()))
            .header("X-Api-Key", "<<vault:key>>")
            .bearer_auth("<<vault:token>>")
            .header("X-Plain", "plain")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "follows={follows}");
        // A restricted secret may not follow at all; a body with secrets neither.
        let restricted = client
            .get(format!("{}/start", origin.url()))
            .header("X-R", "<<vault:restricted>>")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            vault_error(&restricted).kind(),
            ErrorKind::DomainNotAllowed,
            "follows={follows}"
        );
        let body = client
            .post(format!("{}/start", origin.url()))
            .header(CONTENT_TYPE, "text/plain")
            .body("key=<<vault:key>>")
            .send()
            .await
            .unwrap_err();
        assert_eq!(vault_error(&body).kind(), ErrorKind::DomainNotAllowed);
        // A 303 turns into a GET without the body; the header with the secret is dropped.
        client
            .post(format!("{}/other", origin.url()))
            .header("X-Api-Key", "<<vault:key>>")
            .header(CONTENT_TYPE, "text/plain")
            .body("key=<<vault:key>>")
            .send()
            .await
            .unwrap();

        let landed = target.received();
        assert_eq!(landed.len(), 2, "follows={follows}");
        assert_eq!(landed[0].header("x-plain"), Some("plain"));
        for received in &landed {
            let seen = text(received);
            for secret in ["key-value-1", "token-value-2", "restricted-value-3"] {
                assert!(!seen.contains(secret), "follows={follows}: {seen}");
            }
        }
        let sent = text(&origin.received()[0]);
        assert!(
            sent.contains("key-value-1") && sent.contains("token-value-2"),
            "the origin got the rendered secrets: {sent}"
        );
    }
}

#[tokio::test]
async fn requests_without_secrets_go_through_the_rest_of_the_chain() {
    let server = HttpServer::start().await;
    let vault = vault_with_tricky();
    let downstream = Downstream::default();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(VaultMiddleware::new(vault.clone()))
        .with(downstream.clone())
        .build();
    client
        .get(format!("{}/plain?x=1", server.url()))
        .header("X", "no placeholder")
        .send()
        .await
        .unwrap();
    // Literals only: rendered (the escape removed) and handed on.
    client
        .get(format!(
            "{}/lit/%5C<<vault:user>>?q=\\<<vault:user>>",
            server.url()
        ))
        .header("X-Literal", "\\<<vault:user>>")
        .send()
        .await
        .unwrap();
    assert_eq!(downstream.count(), 2);
    // With a secret: sent by the vault's own client, never handed on.
    client
        .get(format!("{}/secret", server.url()))
        .header("X", "<<vault:user>>")
        .send()
        .await
        .unwrap();
    assert_eq!(
        downstream.count(),
        2,
        "the rest of the chain never sees a secret"
    );

    let got = server.received();
    assert_eq!(got[0].request_line(), "GET /plain?x=1 HTTP/1.1");
    assert_eq!(got[0].header("x"), Some("no placeholder"));
    assert_eq!(
        got[1].request_line(),
        "GET /lit/%3C%3Cvault:user%3E%3E?q=%3C%3Cvault:user%3E%3E HTTP/1.1"
    );
    assert_eq!(got[1].header("x-literal"), Some("<<vault:user>>"));
    assert_eq!(got[2].header("x"), Some("admin"));
}

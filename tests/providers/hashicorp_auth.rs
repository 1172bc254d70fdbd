//! Signing in to the HashiCorp Vault stand-in on 127.0.0.1: tokens, AppRole, JWT and
//! Kubernetes logins, renewal, re-login on 403, Unauthorized versus Forbidden, and proof
//! that no token, credential or value leaks into `Debug`, errors or logs.

use crate::common;

use std::time::Duration;

use common::Captured;
use common::hashicorp::{TOKEN, VaultServer, builder, kind, provider, state};
use request_vault::{
    Error, ExposeSecret, ExternalProvider, HashiCorpVault, ProviderErrorKind, Vault,
};

#[tokio::test]
async fn approle_jwt_and_kubernetes_logins() {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        "role-id-1",
        "secret-id-1",
        Duration::from_secs(3600),
    );
    s.login(
        "ci-jwt",
        "jwt",
        "deploy",
        "eyJhbGciOi.ci-token.sig",
        Duration::from_secs(3600),
    );
    s.login(
        "kubernetes",
        "kubernetes",
        "web",
        "eyJhbGciOi.k8s-token.sig",
        Duration::from_secs(3600),
    );
    let server = VaultServer::start(s).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_id_file = dir.path().join("secret-id");
    std::fs::write(&secret_id_file, "secret-id-1\n").unwrap();
    let jwt_file = dir.path().join("jwt");
    std::fs::write(&jwt_file, "eyJhbGciOi.ci-token.sig").unwrap();
    let sa_file = dir.path().join("token");
    std::fs::write(&sa_file, "eyJhbGciOi.k8s-token.sig").unwrap();

    let providers = [
        builder(&server)
            .approle("role-id-1", "secret-id-1")
            .unwrap(),
        builder(&server)
            .approle_secret_id_file("role-id-1", &secret_id_file)
            .unwrap(),
        builder(&server)
            .auth_mount("ci-jwt")
            .jwt("deploy", "eyJhbGciOi.ci-token.sig")
            .unwrap(),
        builder(&server)
            .auth_mount("/ci-jwt/")
            .jwt_file("deploy", &jwt_file)
            .unwrap(),
        builder(&server)
            .kubernetes("web", "eyJhbGciOi.k8s-token.sig")
            .unwrap(),
        builder(&server)
            .kubernetes_token_file("web", &sa_file)
            .unwrap(),
    ];
    for provider in &providers {
        let value = provider
            .resolve("vault://secret/myapp/db#username")
            .await
            .unwrap();
        assert_eq!(value.expose_secret(), "admin", "{provider:?}");
        provider.check().await.unwrap();
    }
    assert_eq!(server.count("POST /v1/auth/approle/login"), 2);
    assert_eq!(server.count("POST /v1/auth/ci-jwt/login"), 2);
    assert_eq!(server.count("POST /v1/auth/kubernetes/login"), 2);

    // Refused logins are Unauthorized, and never show the credential.
    let refused = [
        builder(&server)
            .approle("role-id-1", "wrong-secret-id")
            .unwrap(),
        builder(&server)
            .auth_mount("ci-jwt")
            .jwt("deploy", "wrong.jwt.value")
            .unwrap(),
        builder(&server)
            .kubernetes("web", "wrong.k8s.value")
            .unwrap(),
    ];
    for provider in &refused {
        let e = provider
            .resolve("vault://secret/myapp/db#username")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ProviderErrorKind::Unauthorized, "{e}");
        let text = format!("{e} {e:?} {provider:?}");
        assert!(
            !text.contains("wrong-secret-id")
                && !text.contains("wrong.jwt.value")
                && !text.contains("wrong.k8s.value"),
            "{text}"
        );
    }
    // A login at a mount that does not exist is a configuration error naming the mount.
    let nowhere = builder(&server)
        .auth_mount("nowhere")
        .approle("role-id-1", "secret-id-1")
        .unwrap();
    let e = nowhere.check().await.unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}

#[tokio::test]
async fn a_refused_login_token_triggers_one_new_login_and_one_retry() {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        "role-id-1",
        "secret-id-1",
        Duration::from_secs(3600),
    );
    let server = VaultServer::start(s).await;
    let provider = builder(&server)
        .approle("role-id-1", "secret-id-1")
        .unwrap();
    provider
        .resolve("vault://secret/myapp/db#username")
        .await
        .unwrap();
    server.state.lock().unwrap().revoke_login_tokens();
    let value = provider
        .resolve("vault://secret/myapp/db#password")
        .await
        .unwrap();
    assert_eq!(value.expose_secret(), "v2-pa55");
    assert_eq!(server.count("/login"), 2);

    // When the new token is refused too, the error says so after one retry only.
    server.state.lock().unwrap().logins[0].allowed = vec!["nothing/".into()];
    server.state.lock().unwrap().revoke_login_tokens();
    server.reset_counts();
    let e = provider
        .resolve("vault://secret/myapp/db#password")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ProviderErrorKind::Forbidden, "{e}");
    assert_eq!(server.count("/login"), 1, "{:#?}", server.log());
}

#[tokio::test]
async fn login_tokens_are_renewed_before_they_expire() {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        "role-id-1",
        "secret-id-1",
        Duration::from_secs(2),
    );
    let server = VaultServer::start(s).await;
    let provider = builder(&server)
        .approle("role-id-1", "secret-id-1")
        .unwrap();
    provider.resolve("vault://secret/single").await.unwrap();
    // The token lives 2 s and is renewed once less than its margin (0.4 s) is left.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    provider.resolve("vault://secret/single").await.unwrap();
    assert_eq!(server.count("/login"), 1, "{:#?}", server.log());
    assert_eq!(
        server.count("POST /v1/auth/token/renew-self"),
        1,
        "{:#?}",
        server.log()
    );
}

#[tokio::test]
async fn invalid_tokens_are_unauthorized_and_narrow_ones_forbidden() {
    let (server, _) = provider().await;
    let bad = builder(&server).token("hvs.not-a-token").unwrap();
    assert_eq!(
        kind(bad.resolve("vault://secret/myapp/db#password").await),
        ProviderErrorKind::Unauthorized
    );
    assert!(server.count("auth/token/lookup-self") >= 1);
    assert_eq!(
        bad.check()
            .await
            .unwrap_err()
            .provider_error()
            .map(|e| e.kind()),
        Some(ProviderErrorKind::Unauthorized)
    );

    let narrow = builder(&server).token("hvs.narrow").unwrap();
    assert_eq!(
        narrow
            .resolve("vault://secret/myapp/db#password")
            .await
            .unwrap()
            .expose_secret(),
        "v2-pa55"
    );
    assert_eq!(
        kind(narrow.resolve("vault://secret/single").await),
        ProviderErrorKind::Forbidden
    );

    // Vault 1.12+ says `invalid token` itself: no look-up is needed.
    server.state.lock().unwrap().modern_errors = true;
    server.reset_counts();
    assert_eq!(
        kind(bad.resolve("vault://secret/single").await),
        ProviderErrorKind::Unauthorized
    );
    assert_eq!(server.count("lookup-self"), 0);
}

#[tokio::test]
async fn tokens_credentials_and_values_never_leak() {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        "role-id-leak",
        "secret-id-leak",
        Duration::from_secs(3600),
    );
    let server = VaultServer::start(s).await;
    let captured = Captured::default();
    let _guard = captured.install();
    // The capture must see what is planted in it, or the scan proves nothing.
    tracing::info!("planted-marker");
    assert!(captured.text().contains("planted-marker"));

    let token_provider = builder(&server).token(TOKEN).unwrap();
    let login_provider = builder(&server)
        .approle("role-id-leak", "secret-id-leak")
        .unwrap();
    let vault = Vault::new();
    vault.add_provider(login_provider.clone());
    vault
        .link("pw", "vault://secret/myapp/db#password")
        .unwrap();
    vault
        .link("user", "vault://database/creds/app#username")
        .unwrap();
    vault
        .link("pass", "vault://database/creds/app#password")
        .unwrap();
    vault.link("bad", "vault://secret/myapp/db").unwrap();
    let values = vault.resolve_all(["pw", "user", "pass"]).await.unwrap();
    let dynamic = values["pass"].expose_secret().to_owned();
    let mut text = String::new();
    for reference in [
        "vault://secret/myapp/db",
        "vault://secret/nothing/x#k",
        "vault://secret/myapp/db#nope",
    ] {
        let e = token_provider.resolve(reference).await.unwrap_err();
        text.push_str(&format!("{e} {e:?}\n"));
    }
    let e: Error = vault.resolve("bad").await.unwrap_err();
    text.push_str(&format!("{e} {e:?}\n"));
    text.push_str(&format!(
        "{token_provider:?} {login_provider:?} {vault:?} {values:?}\n"
    ));
    let builder_debug = format!(
        "{:?}",
        HashiCorpVault::builder(&server.url()).namespace("ns")
    );
    text.push_str(&builder_debug);
    text.push_str(&captured.text());
    let issued: Vec<String> = server
        .state
        .lock()
        .unwrap()
        .tokens
        .keys()
        .cloned()
        .collect();
    for secret in [
        TOKEN,
        "role-id-leak",
        "secret-id-leak",
        "v2-pa55",
        "admin",
        dynamic.as_str(),
    ]
    .into_iter()
    .chain(issued.iter().map(String::as_str))
    {
        assert!(!text.contains(secret), "`{secret}` leaked:\n{text}");
    }
}

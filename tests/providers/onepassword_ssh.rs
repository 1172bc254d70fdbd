//! `ssh-format=openssh` end to end: SSH keys as 1Password stores them (PKCS#1 and PKCS#8
//! PEM), served by a stand-in Connect server on 127.0.0.1, converted to the OpenSSH format
//! byte for byte as the fixtures say, and checked with OpenSSH's own `ssh-keygen -y`.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::connect::{ConnectServer, Data, field, item, vault};
use request_vault::{ExposeSecret, ExternalProvider, OnePassword};

const TOKEN: &str = "connect-token-for-tests";

/// (field label, the PEM 1Password holds, the OpenSSH form it converts to)
const KEYS: [(&str, &str, &str); 4] = [
    (
        "ed25519",
        include_str!("../fixtures/ssh/ed25519-pkcs8.pem"),
        include_str!("../fixtures/ssh/ed25519-pkcs8.openssh"),
    ),
    (
        "rsa pkcs1",
        include_str!("../fixtures/ssh/rsa-2048-pkcs1.pem"),
        include_str!("../fixtures/ssh/rsa-2048-pkcs1.openssh"),
    ),
    (
        "rsa pkcs8",
        include_str!("../fixtures/ssh/rsa-2048-pkcs8.pem"),
        include_str!("../fixtures/ssh/rsa-2048-pkcs8.openssh"),
    ),
    (
        "rsa 3072",
        include_str!("../fixtures/ssh/rsa-3072-pkcs8.pem"),
        include_str!("../fixtures/ssh/rsa-3072-pkcs8.openssh"),
    ),
];

async fn converted() -> Vec<String> {
    let fields = KEYS
        .iter()
        .map(|(label, pem, _)| field(label, "SSHKEY", pem))
        .collect();
    let data = Data {
        vaults: vec![vault("Private", vec![item("ssh keys", fields)])],
    };
    let server = ConnectServer::start(data, TOKEN, Duration::ZERO).await;
    let op = OnePassword::connect(&server.url(), TOKEN).unwrap();
    let references: Vec<String> = KEYS
        .iter()
        .map(|(label, _, _)| format!("op://Private/ssh keys/{label}?ssh-format=openssh"))
        .collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    op.resolve_all(&references)
        .await
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_convert_byte_for_byte() {
    let values = converted().await;
    for ((label, _, openssh), value) in KEYS.iter().zip(&values) {
        assert_eq!(value, openssh, "{label}");
    }
}

/// `ssh-keygen -y -f <key>`: the public key OpenSSH derives from a private key file.
fn public_key(ssh_keygen: &Path, dir: &Path, name: &str, key: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = Command::new(ssh_keygen)
        .args(["-y", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ssh-keygen -y {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The OpenSSH public key line of an Ed25519 PKCS#8 PEM, derived with `ed25519-dalek`
/// (`ssh-keygen` reads Ed25519 keys only in the OpenSSH format).
fn ed25519_public_key(pem: &str) -> String {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).unwrap();
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], key.verifying_key().as_bytes()] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// OpenSSH reads each converted key, and derives the same public key from it as from the
/// PEM it came from. Skipped when `ssh-keygen` is missing, unless
/// `REQUEST_VAULT_REQUIRE_EXTERNAL=1` (as in CI).
#[tokio::test]
#[ignore = "needs ssh-keygen (apt-get install openssh-client); CI runs it (cargo test -- --include-ignored)"]
async fn ssh_keygen_reads_the_converted_keys() {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("ssh-keygen"))
            .find(|candidate| candidate.is_file())
    });
    let Some(ssh_keygen) = found else {
        assert!(
            std::env::var_os("REQUEST_VAULT_REQUIRE_EXTERNAL").is_none(),
            "ssh-keygen is required here (REQUEST_VAULT_REQUIRE_EXTERNAL is set); install it with `apt-get install openssh-client`"
        );
        eprintln!("skipped: ssh-keygen is not on PATH (apt-get install openssh-client)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let values = converted().await;
    for ((label, pem, _), value) in KEYS.iter().zip(&values) {
        let name = label.replace(' ', "-");
        let from_pem = if *label == "ed25519" {
            ed25519_public_key(pem)
        } else {
            public_key(&ssh_keygen, dir.path(), &format!("{name}.pem"), pem)
        };
        let from_openssh = public_key(&ssh_keygen, dir.path(), &name, value);
        assert_eq!(from_openssh, from_pem, "{label}");
    }
}

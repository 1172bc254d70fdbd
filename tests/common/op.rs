//! The stand-in `op` CLI (`tests/fixtures/op`), copied into a directory of its own with
//! its data, and generated service-account tokens. With the `conformance` feature, the
//! stand-in plays the hostile cases a CLI can play ([`Faults`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use request_vault::OnePassword;

/// A generated token: `ops_` + base64url JSON with the documented members.
pub fn token(address: &str, email: &str) -> String {
    let json = serde_json::json!({
        "email": email,
        "signInAddress": address,
        "secretKey": "A3-TESTKEY-SECRET-9z8y7x",
        "srpX": "5eb1f0aa00ff",
        "muk": {"alg": "A256GCM", "ext": true, "k": "muk-secret-material", "key_ops": ["encrypt", "decrypt"], "kty": "oct", "kid": "mp"},
        "userAuth": {"method": "SRPg-4096", "alg": "PBES2g-HS256", "iterations": 650000, "salt": "c2FsdA"},
        "deviceUuid": "devdevdevdevdevdevdevdevde",
        "throttleSecret": {"seed": "throttle-secret", "uuid": "u"},
    });
    format!("ops_{}", URL_SAFE_NO_PAD.encode(json.to_string()))
}

/// A copy of the stand-in `op` in its own directory, with its data.
pub struct StandIn {
    pub dir: tempfile::TempDir,
    pub token: String,
}

impl StandIn {
    pub fn new(data: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/op");
        std::fs::copy(&script, dir.path().join("op")).unwrap();
        let tsv: String = data.iter().map(|(r, v)| format!("{r}\t{v}\n")).collect();
        std::fs::write(dir.path().join("data.tsv"), tsv).unwrap();
        let token = token("example.1password.com", "ci-bot@example.1password.com");
        std::fs::write(dir.path().join("token"), &token).unwrap();
        StandIn { dir, token }
    }

    pub fn program(&self) -> PathBuf {
        self.dir.path().join("op")
    }

    pub fn provider(&self) -> OnePassword {
        OnePassword::builder()
            .op_path(self.program())
            .timeout(Duration::from_secs(20))
            .service_account(self.token.clone())
            .unwrap()
    }

    /// A provider using the stand-in's own sign-in (`OnePassword::cli`), no token.
    pub fn cli_provider(&self) -> OnePassword {
        OnePassword::builder()
            .op_path(self.program())
            .timeout(Duration::from_secs(20))
            .cli()
            .unwrap()
    }

    /// Sets the user's sign-in state: `signed-in`, `locked`, or `None` for never signed in.
    pub fn sign_in(&self, state: Option<&str>) {
        let path = self.dir.path().join("session");
        match state {
            Some(state) => std::fs::write(path, state).unwrap(),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The hostile cases a command-line tool can play: an endless output (on standard output
/// when the fault is `declared`, else on standard error, so that both are capped) and an
/// error that echoes the arguments and the environment. Redirects and JSON numbers are an
/// HTTP server's and are skipped.
#[cfg(feature = "conformance")]
impl request_vault::provider::conformance::Faults for StandIn {
    fn inject(&self, fault: request_vault::provider::conformance::Fault) -> bool {
        use request_vault::provider::conformance::Fault;
        let line = match fault {
            Fault::Oversized { bytes, declared } => {
                let stream = if declared { "stdout" } else { "stderr" };
                format!("oversized {bytes} {stream}")
            }
            Fault::Echo { status } => format!("echo {status}"),
            _ => return false,
        };
        let _ = std::fs::remove_file(self.dir.path().join("oversized.log"));
        let mut faults = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("faults"))
            .unwrap();
        std::io::Write::write_all(&mut faults, format!("{line}\n").as_bytes()).unwrap();
        true
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("faults"));
    }

    /// dd's count of the bytes that went out, once the stand-in has written it (its `dd`
    /// reports when its reader goes away, which may be a moment after the provider gave up).
    fn oversized_sent(&self) -> Option<u64> {
        let log = self.dir.path().join("oversized.log");
        for _ in 0..500 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text
                .lines()
                .find(|l| l.contains("bytes") && l.contains("copied"))
            {
                return line.split_whitespace().next()?.parse().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the stand-in's dd reported no count in {}", log.display());
    }
}

//! `ssh-format=openssh`: converting an SSH key field's private key to the OpenSSH format.
//!
//! 1Password keeps SSH private keys as PEM: PKCS#8 (`BEGIN PRIVATE KEY`) for the keys it
//! generates, PKCS#1 (`BEGIN RSA PRIVATE KEY`) for some RSA keys it imports. Ed25519 and RSA
//! keys are converted to `ssh-key`'s own types and written in the OpenSSH format. An RSA key
//! needs no arithmetic for that: OpenSSH stores `n`, `e`, `d`, `iqmp`, `p` and `q`, all of
//! which PKCS#1 holds (`iqmp` is its `coefficient`), so the components are read from the DER
//! with `pkcs1` and carried over as they are. A key already in the OpenSSH format is returned
//! as it is. The decoded DER lives in a zeroizing document; `ssh-key` wipes its copies.

use ed25519_dalek::pkcs8::{PrivateKeyInfo, SecretDocument};
use pkcs1::der::Decode as _;
use pkcs1::der::asn1::{ObjectIdentifier, UintRef};
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair, RsaPrivateKey};
use ssh_key::public::RsaPublicKey;
use ssh_key::{LineEnding, Mpint, PrivateKey};
use zeroize::Zeroizing;

const OPENSSH_HEADER: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";

/// The PEM label of a PKCS#8 private key.
const PKCS8_LABEL: &str = "PRIVATE KEY";

/// The PEM label of a PKCS#1 RSA private key.
const PKCS1_LABEL: &str = "RSA PRIVATE KEY";

/// `rsaEncryption`, the algorithm of an RSA key in PKCS#8 (RFC 8017, appendix A.1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

const NOT_A_KEY: &str = "it is not an Ed25519 or RSA private key in PEM form";
const UNUSABLE_RSA: &str = "the RSA key is not usable for SSH";

/// Converts a PEM private key to the OpenSSH private key format. The error says why not,
/// without any key material.
pub(crate) fn to_openssh(pem: &str) -> Result<Zeroizing<String>, &'static str> {
    let pem = pem.trim();
    if pem.starts_with(OPENSSH_HEADER) {
        return Ok(Zeroizing::new(format!("{pem}\n")));
    }
    let (label, document) = SecretDocument::from_pem(pem).map_err(|_| NOT_A_KEY)?;
    let data = match label {
        PKCS8_LABEL => {
            let info = PrivateKeyInfo::from_der(document.as_bytes()).map_err(|_| NOT_A_KEY)?;
            if info.algorithm.oid == RSA_ENCRYPTION {
                rsa_keypair(info.private_key)?
            } else {
                let key = ed25519_dalek::SigningKey::try_from(info).map_err(|_| NOT_A_KEY)?;
                KeypairData::from(Ed25519Keypair::from(&key))
            }
        }
        PKCS1_LABEL => rsa_keypair(document.as_bytes())?,
        _ => return Err(NOT_A_KEY),
    };
    let key = PrivateKey::new(data, "").map_err(|_| "the key could not be encoded")?;
    key.to_openssh(LineEnding::LF)
        .map_err(|_| "the key could not be encoded")
}

/// An RSA key pair from the DER of a PKCS#1 `RSAPrivateKey`. Multi-prime keys, which
/// OpenSSH cannot hold, are refused.
fn rsa_keypair(der: &[u8]) -> Result<KeypairData, &'static str> {
    let key = pkcs1::RsaPrivateKey::from_der(der).map_err(|_| NOT_A_KEY)?;
    if key.other_prime_infos.is_some() {
        return Err(UNUSABLE_RSA);
    }
    let mpint = |value: UintRef<'_>| Mpint::from_positive_bytes(value.as_bytes());
    let convert = || -> Result<RsaKeypair, ssh_key::Error> {
        Ok(RsaKeypair {
            public: RsaPublicKey {
                e: mpint(key.public_exponent)?,
                n: mpint(key.modulus)?,
            },
            private: RsaPrivateKey {
                d: mpint(key.private_exponent)?,
                iqmp: mpint(key.coefficient)?,
                p: mpint(key.prime1)?,
                q: mpint(key.prime2)?,
            },
        })
    };
    convert().map(KeypairData::from).map_err(|_| UNUSABLE_RSA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;

    /// Keys made with `ssh-keygen`, and the OpenSSH form each converts to (checked with
    /// `ssh-keygen -y` by `tests/onepassword_connect.rs`).
    const FIXTURES: [(&str, &str); 4] = [
        (
            include_str!("../../tests/fixtures/ssh/ed25519-pkcs8.pem"),
            include_str!("../../tests/fixtures/ssh/ed25519-pkcs8.openssh"),
        ),
        (
            include_str!("../../tests/fixtures/ssh/rsa-2048-pkcs1.pem"),
            include_str!("../../tests/fixtures/ssh/rsa-2048-pkcs1.openssh"),
        ),
        (
            include_str!("../../tests/fixtures/ssh/rsa-2048-pkcs8.pem"),
            include_str!("../../tests/fixtures/ssh/rsa-2048-pkcs8.openssh"),
        ),
        (
            include_str!("../../tests/fixtures/ssh/rsa-3072-pkcs8.pem"),
            include_str!("../../tests/fixtures/ssh/rsa-3072-pkcs8.openssh"),
        ),
    ];

    #[test]
    fn keys_convert_byte_for_byte() {
        for (pem, openssh) in FIXTURES {
            assert_eq!(to_openssh(pem).unwrap().as_str(), openssh);
            // CRLF line endings and surrounding blank lines, as pasted into 1Password.
            let pasted = format!("\n{}\n", pem.replace('\n', "\r\n"));
            assert_eq!(to_openssh(&pasted).unwrap().as_str(), openssh);
        }
    }

    #[test]
    fn pkcs1_and_pkcs8_of_one_rsa_key_agree() {
        assert_eq!(FIXTURES[1].1, FIXTURES[2].1);
        let parsed = PrivateKey::from_openssh(FIXTURES[1].1).unwrap();
        let rsa = parsed.key_data().rsa().unwrap();
        assert_eq!(rsa.public.e.as_positive_bytes(), Some(&[1u8, 0, 1][..]));
        assert_eq!(rsa.public.n.as_positive_bytes().map(<[u8]>::len), Some(256));
    }

    #[test]
    fn ed25519_pkcs8_becomes_openssh_and_keeps_the_key() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let pem = signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let openssh = to_openssh(&pem).unwrap();
        assert!(openssh.starts_with(OPENSSH_HEADER));
        let parsed = PrivateKey::from_openssh(openssh.as_str()).unwrap();
        let keypair = parsed.key_data().ed25519().unwrap();
        assert_eq!(keypair.private.to_bytes(), [7u8; 32]);
        // Already OpenSSH: unchanged.
        assert_eq!(to_openssh(&openssh).unwrap().as_str(), openssh.as_str());
    }

    #[test]
    fn other_text_is_refused_without_echoing_it() {
        let err = to_openssh("not-a-key-s3cr3t").unwrap_err();
        assert!(!err.contains("s3cr3t"));
        // A PEM of another kind, and a PKCS#1 label over PKCS#8 content.
        let certificate = "-----BEGIN CERTIFICATE-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END CERTIFICATE-----\n";
        assert_eq!(to_openssh(certificate).unwrap_err(), NOT_A_KEY);
        let relabelled = FIXTURES[2].0.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        assert_eq!(to_openssh(&relabelled).unwrap_err(), NOT_A_KEY);
    }
}

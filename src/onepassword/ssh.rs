//! `ssh-format=openssh`: converting an SSH key field's private key to the OpenSSH format.
//!
//! 1Password keeps SSH private keys as PKCS#8 PEM; Ed25519 and RSA keys (the kinds it
//! generates and imports) are converted with the RustCrypto `ssh-key` crate. A key already in
//! the OpenSSH format is returned as it is.

use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::{LineEnding, PrivateKey};
use zeroize::Zeroizing;

const OPENSSH_HEADER: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";

/// Converts a PEM private key to the OpenSSH private key format. The error says why not,
/// without any key material.
pub(crate) fn to_openssh(pem: &str) -> Result<Zeroizing<String>, &'static str> {
    let pem = pem.trim();
    if pem.starts_with(OPENSSH_HEADER) {
        return Ok(Zeroizing::new(format!("{pem}\n")));
    }
    let data = if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
        KeypairData::from(Ed25519Keypair::from(&key))
    } else if let Ok(key) =
        rsa::RsaPrivateKey::from_pkcs8_pem(pem).or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
    {
        KeypairData::from(
            RsaKeypair::try_from(&key).map_err(|_| "the RSA key is not usable for SSH")?,
        )
    } else {
        return Err("it is not an Ed25519 or RSA private key in PEM form");
    };
    let key = PrivateKey::new(data, "").map_err(|_| "the key could not be encoded")?;
    key.to_openssh(LineEnding::LF)
        .map_err(|_| "the key could not be encoded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;

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
    }
}

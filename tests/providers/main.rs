//! The providers' integration tests, one module per backend, each built with its cargo
//! feature: against real servers where they can be had (moto for AWS, a real Secret Service
//! for the OS keychain) and loopback stand-ins written from the vendors' API documentation
//! otherwise, each running the conformance, fault and hostile-server checks.

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
#[cfg(feature = "azure")]
mod azure_auth;
#[cfg(all(feature = "conformance", feature = "onepassword"))]
mod conformance;
#[cfg(all(feature = "conformance", feature = "onepassword"))]
mod conformance_faults;
#[cfg(feature = "gcp")]
mod gcp;
#[cfg(feature = "hashicorp")]
mod hashicorp;
#[cfg(feature = "hashicorp")]
mod hashicorp_auth;
#[cfg(feature = "keychain")]
mod keychain;
#[cfg(feature = "onepassword")]
mod onepassword_cli;
#[cfg(feature = "onepassword")]
mod onepassword_connect;
#[cfg(feature = "onepassword")]
mod onepassword_lookup;
#[cfg(feature = "ssh")]
mod onepassword_ssh;

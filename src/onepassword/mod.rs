//! 1Password: secret references (`op://…`) and the provider that resolves them.
//!
//! [`SecretReference`] parses and checks references offline; see its module for the
//! grammar, which follows 1Password's documented secret reference syntax.

pub mod reference;

pub use reference::{
    Attribute, ReferenceError, ReferenceErrorKind, SecretReference, Segment, SegmentKind, SshFormat,
};

//! Redaction: masks secret values in text, in the forms they take on the wire, following a
//! vault as its values come and change.
//!
//! [`Redactor`] (`redactor.rs`) is the public face; it searches the automata of a view
//! (`live.rs`, which also follows the vault's announcements), each built over a set of
//! values (`masks.rs`), through one pass over the text and its decoded views (`scan.rs`:
//! escapes read by `decode.rs`, base64 by `base64_runs.rs`). [`RedactingWriter`] (`writer.rs`) and the `tracing`
//! writer (`tracing.rs`) use the redactor alone.

mod base64_runs;
mod decode;
mod live;
mod masks;
mod redactor;
mod scan;
#[cfg(feature = "tracing")]
mod tracing;
mod writer;

#[cfg(test)]
mod tests;

#[cfg(feature = "tracing")]
pub use self::tracing::RedactingMakeWriter;
pub use redactor::Redactor;
pub use writer::RedactingWriter;

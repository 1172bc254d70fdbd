//! Redaction: masks secret values in text, in the forms they take on the wire, following a
//! vault as its values come and change.
//!
//! [`Redactor`] (`redactor.rs`) is the public face; it searches the automata of a view
//! (`live.rs`, which also follows the vault's announcements), each built over the searched
//! forms of a set of values (`masks.rs`, `forms.rs`), through one pass over the text and its
//! decoded views (`scan.rs`, `decode.rs`). [`RedactingWriter`] (`writer.rs`) uses the redactor
//! alone.

mod base64_runs;
mod decode;
mod live;
mod masks;
mod redactor;
mod scan;
mod writer;

#[cfg(test)]
mod tests;

pub use redactor::Redactor;
pub use writer::RedactingWriter;

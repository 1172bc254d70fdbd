//! [`RedactingMakeWriter`]: a `tracing_subscriber` writer that masks secrets in every event
//! (feature `tracing`).

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

use super::redactor::Redactor;
use super::writer::RedactingWriter;

/// Wraps a [`MakeWriter`] so that every event's text goes through a [`RedactingWriter`];
/// made by [`Redactor::make_writer`].
///
/// ```
/// use request_vault::{RedactingMakeWriter, Redactor};
///
/// let writer: RedactingMakeWriter<fn() -> std::io::Stderr> =
///     Redactor::new([("token", "t0k3n")]).make_writer(std::io::stderr);
/// let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
/// tracing::subscriber::with_default(subscriber, || tracing::warn!("t0k3n")); // "[vault:token]"
/// ```
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    redactor: Redactor,
    make: M,
}

impl Redactor {
    /// A [`MakeWriter`] for `tracing_subscriber::fmt` that masks every secret this redactor
    /// knows in each event before `make`'s writer gets it. With a live redactor
    /// ([`Vault::redactor`](crate::Vault::redactor)) that includes values fetched after the
    /// subscriber was installed.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// let subscriber = tracing_subscriber::fmt()
    ///     .with_writer(vault.redactor().make_writer(std::io::stderr))
    ///     .finish();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     vault.set("api-key", "s3cr3t").unwrap();
    ///     tracing::info!("calling with s3cr3t"); // logs "calling with [vault:api-key]"
    /// });
    /// ```
    pub fn make_writer<M>(&self, make: M) -> RedactingMakeWriter<M>
    where
        M: for<'a> MakeWriter<'a>,
    {
        RedactingMakeWriter {
            redactor: self.clone(),
            make,
        }
    }
}

impl<'a, M> MakeWriter<'a> for RedactingMakeWriter<M>
where
    M: MakeWriter<'a>,
    M::Writer: Write,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        self.redactor.writer(self.make.make_writer())
    }

    fn make_writer_for(&'a self, meta: &::tracing::Metadata<'_>) -> Self::Writer {
        self.redactor.writer(self.make.make_writer_for(meta))
    }
}

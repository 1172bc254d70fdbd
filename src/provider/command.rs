//! Running a backend's command-line tool (`op`, `az`, `gcloud`) under the door's policy: what
//! it prints is read as a server's answer is, each of its standard output and standard error
//! up to a cap, and the child is killed (and reaped) as soon as one passes the cap or the
//! timeout runs out. What it printed is kept in buffers wiped when dropped.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use zeroize::Zeroizing;

use super::{ProviderError, ProviderErrorKind};

/// How much of an output is read at a time.
const CHUNK: usize = 8 * 1024;

/// What a run printed, and how it ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Zeroizing<Vec<u8>>,
    pub(crate) stderr: Zeroizing<Vec<u8>>,
}

/// How one command is run: which provider's errors it makes, how errors name it (`` `op
/// inject` ``), how long it may take and how much of each output is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    pub(crate) provider: &'a str,
    pub(crate) name: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) cap: usize,
}

impl Run<'_> {
    /// Runs `command` (its outputs are piped here, its input too when there is `input`),
    /// feeds it `input`, and reads both outputs at once.
    ///
    /// # Errors
    ///
    /// - what `spawn_error` makes of a failure to start it (a missing program deserves its
    ///   own hint);
    /// - [`ProviderErrorKind::Timeout`] when it outlives the timeout;
    /// - [`ProviderErrorKind::Protocol`] when an output passes the cap, saying where to
    ///   raise it;
    /// - [`ProviderErrorKind::Unavailable`] when reading or waiting fails.
    ///
    /// The child is killed before any of these returns. A failing exit status is not an
    /// error here: the caller reads it off [`Finished`].
    pub(crate) async fn run(
        &self,
        mut command: Command,
        input: Option<&[u8]>,
        spawn_error: impl FnOnce(std::io::Error) -> ProviderError,
    ) -> Result<Finished, ProviderError> {
        command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = spawn(&mut command).await.map_err(spawn_error)?;
        let finished = tokio::time::timeout(self.timeout, self.exchange(&mut child, input))
            .await
            .unwrap_or_else(|_| {
                Err(self.error(
                    ProviderErrorKind::Timeout,
                    format!("{} did not finish within {:?}", self.name, self.timeout),
                ))
            });
        if finished.is_err() {
            // Killed and reaped: a child that is stopped reading from must not run on.
            let _ = child.kill().await;
        }
        finished
    }

    /// Feeds `input` to `child` and reads both its outputs (each up to the cap) at once,
    /// then waits for it to exit.
    async fn exchange(
        &self,
        child: &mut Child,
        input: Option<&[u8]>,
    ) -> Result<Finished, ProviderError> {
        let stdin = child.stdin.take();
        let write = async move {
            if let (Some(input), Some(mut stdin)) = (input, stdin) {
                // A child that exits early closes its input; its exit status tells why.
                let _ = stdin.write_all(input).await;
            }
            Ok(())
        };
        let stdout = self.read(child.stdout.take(), "output");
        let stderr = self.read(child.stderr.take(), "error output");
        let ((), stdout, stderr) = tokio::try_join!(write, stdout, stderr)?;
        let status = child.wait().await.map_err(|e| self.failed(e))?;
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }

    /// One output, whole, or an error once it passes the cap.
    async fn read(
        &self,
        stream: Option<impl AsyncRead + Unpin>,
        what: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let Some(stream) = stream else {
            return Ok(Zeroizing::new(Vec::new()));
        };
        match read_capped(stream, self.cap).await {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(self.error(
                ProviderErrorKind::Protocol,
                format!(
                    "the {what} of {} passed the cap of {} bytes; the provider's builder raises it with `max_response_bytes` (provider::MAX_RESPONSE_BYTES by default)",
                    self.name, self.cap
                ),
            )),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn failed(&self, source: std::io::Error) -> ProviderError {
        self.error(
            ProviderErrorKind::Unavailable,
            format!("{} failed to run", self.name),
        )
        .with_source(source)
    }

    fn error(&self, kind: ProviderErrorKind, message: String) -> ProviderError {
        ProviderError::new(self.provider, kind, message)
    }
}

/// `command` started. A program file still open for writing somewhere (a tool being
/// installed or updated, or written by another thread whose fork has not yet exec'd) makes
/// `exec` fail with "text file busy" for a moment: that is tried again a few times.
async fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut wait = Duration::from_millis(5);
    for _ in 0..5 {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            started => return started,
        }
    }
    command.spawn()
}

/// `stream` read to its end into buffers wiped when dropped, or `None` as soon as it
/// passes `cap` bytes.
async fn read_capped(
    mut stream: impl AsyncRead + Unpin,
    cap: usize,
) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    let mut out = Zeroizing::new(Vec::new());
    loop {
        let read = stream.read(&mut chunk[..]).await?;
        if read == 0 {
            return Ok(Some(out));
        }
        let len = out.len().saturating_add(read);
        if len > cap {
            return Ok(None);
        }
        if len > out.capacity() {
            // Grown by hand so that the smaller buffer is wiped, not freed as it is.
            let mut bigger = Zeroizing::new(Vec::with_capacity(
                len.max(out.capacity().saturating_mul(2)).min(cap),
            ));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&chunk[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cap: usize, timeout: Duration) -> Run<'static> {
        Run {
            provider: "test",
            name: "`sh`",
            timeout,
            cap,
        }
    }

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn outputs_are_read_whole_up_to_the_cap() {
        let finished = run(1024, Duration::from_secs(10))
            .run(sh("cat; echo oops >&2; exit 3"), Some(b"hello"), |e| {
                ProviderError::new("test", ProviderErrorKind::Configuration, e.to_string())
            })
            .await
            .unwrap();
        assert_eq!(&finished.stdout[..], b"hello");
        assert_eq!(&finished.stderr[..], b"oops\n");
        assert_eq!(finished.status.code(), Some(3));

        let error = run(1024, Duration::from_secs(10))
            .run(sh("yes"), None, |e| {
                ProviderError::new("test", ProviderErrorKind::Configuration, e.to_string())
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Protocol);
        assert!(error.message().contains("max_response_bytes"), "{error}");
    }

    #[tokio::test]
    async fn streams_are_read_to_their_end_or_refused_past_the_cap() {
        let text = vec![b'x'; 3 * CHUNK + 5];
        let read = read_capped(&text[..], text.len()).await.unwrap().unwrap();
        assert_eq!(*read, text);
        assert!(
            read_capped(&text[..], text.len() - 1)
                .await
                .unwrap()
                .is_none()
        );
        let empty = read_capped(&b""[..], 0).await.unwrap().unwrap();
        assert!(empty.is_empty());
        assert!(read_capped(&b"x"[..], 0).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_command_that_outlives_its_timeout_is_stopped() {
        let error = run(1024, Duration::from_millis(100))
            .run(sh("sleep 30"), None, |e| {
                ProviderError::new("test", ProviderErrorKind::Configuration, e.to_string())
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Timeout);
        let error = run(1024, Duration::from_secs(10))
            .run(Command::new("/surely/not/a/program"), None, |e| {
                ProviderError::new(
                    "test",
                    ProviderErrorKind::Configuration,
                    e.kind().to_string(),
                )
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Configuration);
    }
}

//! The job of `examples/run.rs`, shared with its end-to-end test: read `NAME=template`
//! lines, render them with the vault, run a command with that environment added, and pass
//! its output on through the vault's live redactor.

use std::io::{self, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;

use request_vault::{ExposeSecret, Vault};

/// The `NAME=template` lines of an env file (spaces around the name and the template are
/// dropped); blank lines and `#` comments are skipped.
///
/// A line without `=` is an error naming its number (never its text: it may hold a secret
/// written where a template was meant).
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, template)) = line.split_once('=') else {
            return Err(format!("line {}: expected NAME=template", number + 1));
        };
        pairs.push((name.trim().to_owned(), template.trim().to_owned()));
    }
    Ok(pairs)
}

/// Renders `pairs` with `vault` (one batched fetch, failing closed: the command does not run
/// unless every variable renders), runs `command` with them added to this process's
/// environment, and copies its stdout to `out` and its stderr to `err` through the vault's
/// live redactor, line by line. Returns the command's exit status and the two writers.
pub async fn run<O, E>(
    vault: &Vault,
    pairs: Vec<(String, String)>,
    command: &[String],
    out: O,
    err: E,
) -> Result<(ExitStatus, O, E), Box<dyn std::error::Error>>
where
    O: Write + Send + 'static,
    E: Write + Send + 'static,
{
    let (program, args) = command.split_first().ok_or("no command to run")?;
    // Made first: values the rendering fetches are masked too.
    let redactor = vault.redactor();
    let env = vault.render_env(pairs).await?;
    let mut child = Command::new(program);
    child
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in &env {
        // The one place the values leave the vault: into the child's environment.
        child.env(name, value.expose_secret());
    }
    let mut child = child.spawn()?;
    drop(env);
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let out = copy_masked(stdout, redactor.writer(out));
    let err = copy_masked(stderr, redactor.writer(err));
    let status = child.wait()?;
    let out = out.join().map_err(|_| "the stdout copy panicked")??;
    let err = err.join().map_err(|_| "the stderr copy panicked")??;
    Ok((status, out, err))
}

/// Copies `from` into `to` on a thread of its own; gives back the inner writer at the end.
fn copy_masked<R, W>(
    mut from: R,
    mut to: request_vault::RedactingWriter<W>,
) -> thread::JoinHandle<io::Result<W>>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    thread::spawn(move || {
        io::copy(&mut from, &mut to)?;
        to.try_into_inner()
    })
}

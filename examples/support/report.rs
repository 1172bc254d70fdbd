//! How the examples end: an error is printed with `Display`, then each cause of its
//! `source()` chain that the message does not already say, one a line, and the process
//! exits with a failure code. Never a `Debug` dump: it shows a program's internals, not
//! what went wrong.

use std::error::Error;
use std::process::ExitCode;

/// The exit code for `outcome`, after printing its error (if any) to stderr.
pub fn exit_code(outcome: Result<(), Box<dyn Error>>) -> ExitCode {
    let Err(error) = outcome else {
        return ExitCode::SUCCESS;
    };
    let mut said = error.to_string();
    eprintln!("error: {said}");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !said.contains(&text) {
            eprintln!("  caused by: {text}");
            said = text;
        }
        source = cause.source();
    }
    ExitCode::FAILURE
}

//! `marketprism replay FILE`.

use std::io::{BufRead, BufReader, Write};

use super::ReplayArgs;

/// Replays a capture: normalized events (gap/resync status events included) as JSON lines on
/// `stdout`, per-line errors on `stderr`. Returns the number of errors.
pub fn replay(
    args: &ReplayArgs,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> std::io::Result<u64> {
    let input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(&args.file)?))
    };
    let mut write_error = None;
    let stats = marketprism_exchanges::capture::replay(
        input,
        args.depth,
        |event| {
            if write_error.is_none() {
                let r = serde_json::to_writer(&mut *stdout, event)
                    .map_err(std::io::Error::from)
                    .and_then(|()| stdout.write_all(b"\n"));
                write_error = r.err();
            }
        },
        |line, error| {
            let _ = writeln!(stderr, "line {line}: {error}");
        },
    )?;
    if let Some(e) = write_error {
        return Err(e);
    }
    stdout.flush()?;
    writeln!(
        stderr,
        "replayed {} lines: {} events, {} errors",
        stats.lines, stats.events, stats.errors
    )?;
    Ok(stats.errors)
}

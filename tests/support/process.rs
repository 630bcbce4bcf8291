//! Children that cannot hang a test: each is waited for at most a bound,
//! then killed, and the test fails saying so. Their output is read as it
//! comes, so a full pipe cannot stop them either.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any test's child may run: the slowest (a drain of 20,000
/// targets, `fun` starting a package) take seconds.
pub const CHILD_LIMIT: Duration = Duration::from_secs(180);

/// `wait_with_output` and `output`, with a bound.
pub trait OutputWithin {
    /// The child's exit status and output; kills it and panics after `limit`.
    fn output_within(self, limit: Duration) -> Output;
}

impl OutputWithin for Child {
    fn output_within(mut self, limit: Duration) -> Output {
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                text
            })
        };
        let stdout = read(self.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = read(self.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let until = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.try_wait().expect("waiting for a child") {
                break status;
            }
            if Instant::now() >= until {
                let _ = self.kill();
                let _ = self.wait();
                let stderr = stderr.join().unwrap_or_default();
                panic!("a child ran past {limit:?} and was killed; its stderr:\n{}", String::from_utf8_lossy(&stderr));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
    }
}

impl OutputWithin for &mut Command {
    /// As `Command::output`: stdin empty, stdout and stderr captured.
    fn output_within(self, limit: Duration) -> Output {
        self.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn().expect("spawning a child").output_within(limit)
    }
}

/// Runs `command` with `stdin` written to it; its output, bounded as
/// [`OutputWithin`].
pub fn run_with_stdin(command: &mut Command, stdin: &[u8], limit: Duration) -> Output {
    use std::io::Write;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning a child");
    child.stdin.take().expect("stdin is piped").write_all(stdin).expect("writing the child's stdin");
    child.output_within(limit)
}

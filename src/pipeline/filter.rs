//! External programs as filters on the write path: a custom compression program before the
//! parallel workers ([`FilterSource`]) and an encryption program after the reorder step
//! ([`FilterSink`]), run as Amanda's sendbackup and dumper run them (`execlp(prog, prog)`,
//! standard input to standard output, no arguments unless the [`FilterProgram`] has some).
//!
//! # Threads and bytes
//!
//! ```text
//! compression (FilterSource, in place of the source):
//!   inner source ─► feeder thread ─► program stdin ─► PROGRAM ─► stdout ─► fill()
//!                   (one fixed buffer)                   │        (the source thread reads
//!                                                        │         into its frame buffers)
//!                                                        └─ stderr ─► tail thread (last 4 KiB)
//!
//! encryption (FilterSink, in place of the sink):
//!   reorder ─► consume(): write the frame ─► program stdin ─► PROGRAM ─► stdout ─► reader
//!              (no copy; the frame goes        thread: fills buffers of its own fixed pool ─►
//!               back to its pool)             inner sink (chunker, taper, …)
//! ```
//!
//! Memory is fixed at start: the feeder owns one 256 KiB buffer, the reader a pool of
//! three frame-sized buffers, the stderr tail 5 KiB; nothing is allocated per block.
//!
//! # Failures
//!
//! A program that cannot be started, exits non-zero, is killed by a signal, or stops
//! reading its input before the end (even with status 0) fails the dump with a message
//! naming the program, its status and the last line it wrote to standard error
//! (`compression program /usr/local/bin/foo exited with status 3: out of memory`). A
//! broken pipe on the program's input is never reported as such: it means the program
//! went away, so its exit status is what is reported. When the sink downstream fails, the
//! reader closes the program's output, which stops the program (SIGPIPE) and the writer.
//! Every path reaps the child: the exit status is checked before the inner sink is
//! finished (so a failed program never leaves a dump presented complete), `abort` and
//! `Drop` kill and reap it, and a program that closes its output without exiting is
//! killed after [`EXIT_GRACE`].

use super::pool::{Budget, BufferPool};
use super::run::{Sink, Source, StageStats};
use crossbeam_channel::{bounded, Receiver};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An external filter: the program and the arguments it is run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterProgram {
    pub path: PathBuf,
    pub args: Vec<String>,
}

impl FilterProgram {
    /// The program run with no arguments, as Amanda runs custom compression and
    /// encryption programs.
    pub fn new(path: impl Into<PathBuf>) -> FilterProgram {
        FilterProgram { path: path.into(), args: Vec::new() }
    }
}

/// What a filter does, for its messages and its stage name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Compression,
    Encryption,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Compression => "compression program",
            Role::Encryption => "encryption program",
        }
    }

    fn stage(self) -> &'static str {
        match self {
            Role::Compression => "compress-filter",
            Role::Encryption => "encrypt-filter",
        }
    }
}

/// The filter's own statistics, shared with the pipeline that reports them as a stage:
/// bytes to and from the program, `busy` = the program's CPU time, `blocked_out` = time
/// spent writing to it (it was slower than its input), `blocked_in` = time spent waiting
/// for its output.
pub type FilterStats = Arc<Mutex<StageStats>>;

/// Bytes of standard error kept for the error message (the tail, where the reason is).
const STDERR_TAIL_BYTES: usize = 4096;
const STDERR_READ_BYTES: usize = 1024;
/// The feeder's buffer: big enough that a pipe write rarely waits on a half-empty read.
const FEED_BUFFER_BYTES: usize = 256 * 1024;
/// Buffers of the encryption reader's pool: one being filled, one at the sink, a spare.
const SINK_BUFFERS: usize = 3;
/// How long a program may take to exit after closing its output (or after its input
/// ended early) before it is killed.
pub const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for the last of a dead program's standard error.
const STDERR_GRACE: Duration = Duration::from_secs(1);
/// Linux reports process times in clock ticks of 1/100 s (USER_HZ).
const CLOCK_TICKS_PER_SECOND: u64 = 100;

fn lock(stats: &FilterStats) -> std::sync::MutexGuard<'_, StageStats> {
    // A panicking stage poisons nothing worth refusing: the counters stay usable.
    stats.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last bytes a program wrote to standard error, read by a thread of its own so a
/// chatty program never blocks on a full stderr pipe.
struct StderrTail {
    tail: Arc<Mutex<Vec<u8>>>,
    done: Receiver<()>,
}

impl StderrTail {
    fn start(mut stderr: ChildStderr) -> StderrTail {
        let tail = Arc::new(Mutex::new(Vec::with_capacity(STDERR_TAIL_BYTES + STDERR_READ_BYTES)));
        let (done_tx, done) = bounded::<()>(1);
        let t = Arc::clone(&tail);
        // Not joined: a grandchild of the program may keep the pipe open after the program
        // died; the thread ends by itself when the last writer goes.
        std::thread::spawn(move || {
            let mut chunk = [0u8; STDERR_READ_BYTES];
            loop {
                match stderr.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut v = t.lock().unwrap_or_else(|p| p.into_inner());
                        v.extend_from_slice(&chunk[..n]);
                        if v.len() > STDERR_TAIL_BYTES {
                            let cut = v.len() - STDERR_TAIL_BYTES;
                            v.drain(..cut);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            drop(done_tx);
        });
        StderrTail { tail, done }
    }

    /// The last non-empty line, once the program's stderr has closed (or after a grace).
    fn last_line(&self) -> Option<String> {
        let _ = self.done.recv_timeout(STDERR_GRACE);
        let v = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&v).lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
    }
}

/// A running program: reaped exactly once, killed if dropped while running.
struct Running {
    program: FilterProgram,
    role: Role,
    child: Child,
    status: Option<ExitStatus>,
    /// Set when we killed it because it did not exit after closing its output.
    killed_after_grace: bool,
    stderr: StderrTail,
}

impl Running {
    fn spawn(program: &FilterProgram, role: Role) -> Result<(Running, ChildStdin, ChildStdout), String> {
        let mut child = Command::new(&program.path)
            .args(&program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{} {} could not be started: {e}", role.noun(), program.path.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} {}: no pipes to the program", role.noun(), program.path.display()));
        };
        let stderr = StderrTail::start(stderr);
        let running = Running {
            program: program.clone(),
            role,
            child,
            status: None,
            killed_after_grace: false,
            stderr,
        };
        Ok((running, stdin, stdout))
    }

    fn name(&self) -> String {
        format!("{} {}", self.role.noun(), self.program.path.display())
    }

    /// Waits for the program to exit, killing it after `grace`.
    fn wait_grace(&mut self, grace: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    self.status = Some(s);
                    return s;
                }
                Ok(None) if started.elapsed() < grace => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                _ => {
                    self.killed_after_grace = true;
                    return self.kill();
                }
            }
        }
    }

    /// Kills the program if it still runs, and reaps it.
    fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let _ = self.child.kill();
        let s = self.child.wait().unwrap_or_else(|_| ExitStatus::from_raw(9));
        self.status = Some(s);
        s
    }

    /// The program's CPU time so far (user + system), read before it is reaped.
    fn cpu_time(&self) -> Duration {
        if self.status.is_some() {
            return Duration::ZERO;
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may contain spaces, hence the last ')'):
        // state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|x| x.parse().ok()).collect();
        let ticks: u64 = f.iter().sum();
        Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SECOND)
    }

    /// The message for a failed exit, or None when `status` is success.
    fn failure(&self, status: ExitStatus) -> Option<String> {
        if status.success() {
            return None;
        }
        let mut msg = if self.killed_after_grace {
            format!(
                "{} closed its output but did not exit within {} s; killed",
                self.name(),
                EXIT_GRACE.as_secs()
            )
        } else if let Some(code) = status.code() {
            format!("{} exited with status {code}", self.name())
        } else if let Some(sig) = status.signal() {
            format!("{} was killed by signal {sig}{}", self.name(), signal_name(sig))
        } else {
            format!("{} failed ({status})", self.name())
        };
        if let Some(line) = self.stderr.last_line() {
            msg.push_str(": ");
            msg.push_str(&line);
        }
        Some(msg)
    }

    /// Why the program stopped taking input: its failure, or that it exited cleanly
    /// without reading everything (a filter must consume its whole input).
    fn input_closed_error(&mut self) -> String {
        let status = self.wait_grace(EXIT_GRACE);
        self.failure(status).unwrap_or_else(|| {
            format!("{} exited with status 0 before reading all of its input", self.name())
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// How the feeder ended without an error of its own.
enum Feed {
    /// Every byte of the inner source went to the program.
    All,
    /// The program closed its input first (broken pipe).
    InputClosed,
}

/// A [`Source`] whose bytes are the inner source's bytes run through a program (external
/// compression). End of input is reported only after the program exited with status 0
/// having read everything.
pub struct FilterSource {
    proc: Running,
    stdout: Option<ChildStdout>,
    feeder: Option<JoinHandle<Result<Feed, String>>>,
    stats: FilterStats,
    ended: bool,
}

impl FilterSource {
    /// Starts `program` reading `inner`.
    pub fn spawn(
        program: &FilterProgram,
        role: Role,
        mut inner: Box<dyn Source>,
    ) -> Result<(FilterSource, FilterStats), String> {
        let (proc, mut stdin, stdout) = Running::spawn(program, role)?;
        let stats: FilterStats =
            Arc::new(Mutex::new(StageStats { name: role.stage().into(), ..StageStats::default() }));
        let st = Arc::clone(&stats);
        let what = proc.name();
        let feeder = std::thread::spawn(move || -> Result<Feed, String> {
            let mut buf = vec![0u8; FEED_BUFFER_BYTES];
            loop {
                let n = match inner.fill(&mut buf) {
                    Ok(0) => return Ok(Feed::All), // dropping stdin is the program's EOF
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("reading the source: {e}")),
                };
                let t = Instant::now();
                match stdin.write_all(&buf[..n]) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Feed::InputClosed),
                    Err(e) => return Err(format!("writing to {what}: {e}")),
                }
                let mut s = lock(&st);
                s.bytes_in += n as u64;
                s.blocked_out += t.elapsed();
            }
        });
        Ok((
            FilterSource {
                proc,
                stdout: Some(stdout),
                feeder: Some(feeder),
                stats: stats.clone(),
                ended: false,
            },
            stats,
        ))
    }

    /// The program closed its output: reap it and decide whether the stream is whole.
    fn end(&mut self) -> Result<(), String> {
        self.stdout = None;
        lock(&self.stats).busy = self.proc.cpu_time();
        let status = self.proc.wait_grace(EXIT_GRACE);
        // The program is gone, so a feeder blocked on its input has its broken pipe now.
        let feed = match self.feeder.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(format!("the feeder of {} panicked", self.proc.name())),
            None => Ok(Feed::All),
        };
        if let Some(msg) = self.proc.failure(status) {
            return Err(msg);
        }
        match feed? {
            Feed::All => Ok(()),
            Feed::InputClosed => Err(self.proc.input_closed_error()),
        }
    }
}

impl Source for FilterSource {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let Some(out) = self.stdout.as_mut() else { return Ok(0) };
        let t = Instant::now();
        let r = loop {
            match out.read(buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(0) => {
                self.ended = true;
                self.end().map_err(std::io::Error::other)?;
                Ok(0)
            }
            Ok(n) => {
                let mut s = lock(&self.stats);
                s.bytes_out += n as u64;
                s.blocked_in += t.elapsed();
                Ok(n)
            }
            Err(e) => {
                self.ended = true;
                let msg = format!("reading from {}: {e}", self.proc.name());
                self.proc.kill();
                Err(std::io::Error::other(msg))
            }
        }
    }
}

impl Drop for FilterSource {
    fn drop(&mut self) {
        // Closing its output and killing it unblocks a feeder writing to it.
        self.stdout = None;
        self.proc.kill();
        if let Some(h) = self.feeder.take() {
            let _ = h.join();
        }
    }
}

type ReaderResult = (Box<dyn Sink>, Result<(), String>);

/// A [`Sink`] that runs every frame through a program (external encryption) and passes
/// the program's output, re-framed in buffers of its own pool, to the inner sink.
pub struct FilterSink {
    proc: Running,
    stdin: Option<ChildStdin>,
    reader: Option<JoinHandle<ReaderResult>>,
    inner: Option<Box<dyn Sink>>,
    /// The reader's error (the inner sink failed): reported by the next `consume`.
    failed: Arc<Mutex<Option<String>>>,
    stats: FilterStats,
}

impl FilterSink {
    /// Starts `program` writing to `inner` in buffers of `buffer_bytes`. When the program
    /// cannot be started, `inner` is aborted before the error is returned.
    pub fn spawn(
        program: &FilterProgram,
        role: Role,
        mut inner: Box<dyn Sink>,
        buffer_bytes: usize,
    ) -> Result<(FilterSink, FilterStats), String> {
        let (proc, stdin, mut stdout) = match Running::spawn(program, role) {
            Ok(p) => p,
            Err(e) => {
                inner.abort(&e);
                return Err(e);
            }
        };
        let stats: FilterStats =
            Arc::new(Mutex::new(StageStats { name: role.stage().into(), ..StageStats::default() }));
        let failed: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let pool = BufferPool::new(&Budget {
            buffer_bytes: buffer_bytes.max(4096),
            source_read_depth: SINK_BUFFERS - 1,
            compress_workers: 0,
            frames_in_flight: 0,
            encrypt_depth: 0,
            holding_writes_in_flight: 0,
            taper_blocks: 0,
        });
        let (st, fail) = (Arc::clone(&stats), Arc::clone(&failed));
        let what = proc.name();
        let reader = std::thread::spawn(move || -> ReaderResult {
            loop {
                let (mut b, _) = pool.take();
                let cap = b.capacity();
                let mut n = 0;
                let mut eof = false;
                let t = Instant::now();
                while n < cap {
                    match stdout.read(&mut b.space()[n..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(k) => n += k,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            let msg = format!("reading from {what}: {e}");
                            *fail.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.clone());
                            return (inner, Err(msg));
                        }
                    }
                }
                {
                    let mut s = lock(&st);
                    s.bytes_out += n as u64;
                    s.blocked_in += t.elapsed();
                }
                if n > 0 {
                    b.len = n;
                    if let Err(e) = inner.consume(b) {
                        // Returning drops our end of its output: the program dies of
                        // SIGPIPE and the writer's next write fails with this error.
                        *fail.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                        return (inner, Err(e));
                    }
                }
                if eof {
                    return (inner, Ok(()));
                }
            }
        });
        Ok((
            FilterSink {
                proc,
                stdin: Some(stdin),
                reader: Some(reader),
                inner: None,
                failed,
                stats: stats.clone(),
            },
            stats,
        ))
    }

    fn downstream_error(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes the inner sink back from the reader (after the program's output closed).
    fn join_reader(&mut self) -> Result<(), String> {
        match self.reader.take().map(JoinHandle::join) {
            Some(Ok((inner, r))) => {
                self.inner = Some(inner);
                r
            }
            Some(Err(_)) => Err(format!("the reader of {} panicked", self.proc.name())),
            None => Ok(()),
        }
    }
}

impl Sink for FilterSink {
    fn consume(&mut self, frame: super::pool::PoolBuf) -> Result<(), String> {
        if let Some(e) = self.downstream_error() {
            return Err(e);
        }
        let Some(stdin) = self.stdin.as_mut() else { return Err("the dump already ended".into()) };
        let t = Instant::now();
        match stdin.write_all(frame.bytes()) {
            Ok(()) => {
                let mut s = lock(&self.stats);
                s.bytes_in += frame.len as u64;
                s.blocked_out += t.elapsed();
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.stdin = None;
                // The reader closing the program's output (sink failure) comes first.
                Err(self.downstream_error().unwrap_or_else(|| self.proc.input_closed_error()))
            }
            Err(e) => Err(format!("writing to {}: {e}", self.proc.name())),
        }
    }

    fn finish(&mut self) -> Result<(), String> {
        self.stdin = None; // the program's end of input
        let read = self.join_reader();
        lock(&self.stats).busy = self.proc.cpu_time();
        let status = self.proc.wait_grace(EXIT_GRACE);
        // The exit status is checked before the inner sink finishes, so output of a
        // failed program is never presented as a complete dump.
        let failure = read.err().or_else(|| self.proc.failure(status));
        let Some(inner) = self.inner.as_mut() else {
            return Err(failure.unwrap_or_else(|| format!("{}: the sink is gone", self.proc.name())));
        };
        match failure {
            Some(msg) => {
                inner.abort(&msg);
                Err(msg)
            }
            None => inner.finish(),
        }
    }

    fn abort(&mut self, reason: &str) {
        self.stdin = None;
        self.proc.kill();
        let _ = self.join_reader();
        if let Some(inner) = self.inner.as_mut() {
            inner.abort(reason);
        }
    }

    fn stats(&self) -> StageStats {
        match &self.inner {
            Some(i) => i.stats(),
            None => StageStats { name: "sink".into(), ..StageStats::default() },
        }
    }
}

impl Drop for FilterSink {
    /// Dropped without `finish` or `abort`: stop the program, and let the inner sink's own
    /// drop deal with its incomplete dump.
    fn drop(&mut self) {
        self.stdin = None;
        self.proc.kill();
        let _ = self.join_reader();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::pool::PoolBuf;
    use crate::pipeline::run::{CollectSink, ReadSource};

    fn sh(script: &str) -> FilterProgram {
        FilterProgram { path: "/bin/sh".into(), args: vec!["-c".into(), script.into()] }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn read_all(src: &mut dyn Source) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 100_000];
        loop {
            let n = src.fill(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn frames(input: &[u8], size: usize) -> Vec<PoolBuf> {
        let pool = BufferPool::new(&Budget {
            buffer_bytes: size,
            source_read_depth: input.len().div_ceil(size),
            compress_workers: 0,
            frames_in_flight: 0,
            encrypt_depth: 0,
            holding_writes_in_flight: 0,
            taper_blocks: 0,
        });
        input
            .chunks(size)
            .map(|c| {
                let mut b = pool.take().0;
                b.space()[..c.len()].copy_from_slice(c);
                b.len = c.len();
                b
            })
            .collect()
    }

    #[test]
    fn source_runs_the_program_over_everything() {
        let input = data(1_500_000);
        let inner = Box::new(ReadSource(std::io::Cursor::new(input.clone())));
        let (mut s, stats) =
            FilterSource::spawn(&FilterProgram::new("/bin/cat"), Role::Compression, inner).unwrap();
        assert!(read_all(&mut s).unwrap() == input);
        let st = stats.lock().unwrap().clone();
        assert_eq!((st.bytes_in, st.bytes_out, st.name.as_str()), (1_500_000, 1_500_000, "compress-filter"));
    }

    #[test]
    fn source_reports_status_and_last_stderr_line() {
        let inner = Box::new(ReadSource(std::io::Cursor::new(data(2_000_000))));
        let prog = sh("head -c 100000 >/dev/null; echo first >&2; echo 'disk full' >&2; exit 3");
        let (mut s, _) = FilterSource::spawn(&prog, Role::Compression, inner).unwrap();
        let e = read_all(&mut s).unwrap_err().to_string();
        assert_eq!(e, "compression program /bin/sh exited with status 3: disk full");
    }

    #[test]
    fn source_refuses_a_program_that_stops_reading_but_exits_0() {
        let inner = Box::new(ReadSource(std::io::Cursor::new(data(2_000_000))));
        let (mut s, _) = FilterSource::spawn(&sh("exit 0"), Role::Compression, inner).unwrap();
        let e = read_all(&mut s).unwrap_err().to_string();
        assert_eq!(e, "compression program /bin/sh exited with status 0 before reading all of its input");
    }

    #[test]
    fn missing_program_is_named() {
        let inner = Box::new(ReadSource(std::io::Cursor::new(Vec::new())));
        let e = FilterSource::spawn(&FilterProgram::new("/nonexistent/zip"), Role::Compression, inner)
            .err()
            .unwrap();
        assert!(e.starts_with("compression program /nonexistent/zip could not be started: "), "{e}");
    }

    #[test]
    fn sink_passes_the_program_output_on_and_reports_signals() {
        let input = data(2_500_000);
        let (inner, rx) = CollectSink::new();
        let (mut s, stats) =
            FilterSink::spawn(&FilterProgram::new("/bin/cat"), Role::Encryption, Box::new(inner), 1 << 20)
                .unwrap();
        for f in frames(&input, 300_000) {
            s.consume(f).unwrap();
        }
        s.finish().unwrap();
        assert!(rx.recv().unwrap() == input);
        assert_eq!(stats.lock().unwrap().bytes_out, 2_500_000);
        assert_eq!(s.stats().bytes_in, 2_500_000);

        struct Flag(Arc<Mutex<Option<String>>>);
        impl Sink for Flag {
            fn consume(&mut self, _: PoolBuf) -> Result<(), String> {
                Ok(())
            }
            fn finish(&mut self) -> Result<(), String> {
                panic!("a killed program's output must not be finished")
            }
            fn abort(&mut self, reason: &str) {
                *self.0.lock().unwrap() = Some(reason.into());
            }
            fn stats(&self) -> StageStats {
                StageStats::default()
            }
        }
        let aborted = Arc::new(Mutex::new(None));
        let prog = sh("head -c 50000 >/dev/null; echo dying >&2; kill -9 $$");
        let (mut s, _) =
            FilterSink::spawn(&prog, Role::Encryption, Box::new(Flag(aborted.clone())), 1 << 20).unwrap();
        let mut err = None;
        for f in frames(&data(3_000_000), 300_000) {
            if let Err(e) = s.consume(f) {
                err = Some(e);
                break;
            }
        }
        let e = match err {
            Some(e) => {
                s.abort(&e);
                e
            }
            None => s.finish().unwrap_err(),
        };
        assert_eq!(e, "encryption program /bin/sh was killed by signal 9 (SIGKILL): dying");
        assert_eq!(aborted.lock().unwrap().as_deref(), Some(e.as_str()));
    }

    #[test]
    fn sink_failure_downstream_stops_the_program() {
        struct Failing;
        impl Sink for Failing {
            fn consume(&mut self, _: PoolBuf) -> Result<(), String> {
                Err("disk full".into())
            }
            fn finish(&mut self) -> Result<(), String> {
                Ok(())
            }
            fn stats(&self) -> StageStats {
                StageStats::default()
            }
        }
        let (mut s, _) = FilterSink::spawn(
            &FilterProgram::new("/bin/cat"),
            Role::Encryption,
            Box::new(Failing),
            64 * 1024,
        )
        .unwrap();
        let mut got = None;
        for f in frames(&data(8_000_000), 500_000) {
            if let Err(e) = s.consume(f) {
                got = Some(e);
                break;
            }
        }
        let e = got.unwrap_or_else(|| s.finish().unwrap_err());
        assert_eq!(e, "disk full");
        s.abort(&e);
    }
}

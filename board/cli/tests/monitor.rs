//! `skelact monitor` end to end: the real daemon on a pseudo-terminal with its monitor socket, the committed
//! synthetic session replayed into it, and the monitor running in a detached tmux pane of 100×30. The screen,
//! with what moves masked (numbers, the stick figures' braille dots, the sparkline's bars), must match
//! `golden/monitor.txt` once the replay has been classified; then the daemon is stopped, the monitor must say it is
//! disconnected, and `q` must end it. `SKELACT_BLESS=1` rewrites the golden screen.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{DaemonProcess, PATIENCE};
use skelact_runtime::wire::Message;

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");

/// A tmux server of the test's own (`-L`), so that the user's sessions are neither seen nor touched; killed
/// however the test ends.
struct Tmux {
    server: String,
    config: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        // No status line: the pane is the whole 100×30.
        let config = dir.join("tmux.conf");
        std::fs::write(&config, "set -g status off\n").unwrap();
        Tmux { server: format!("skelact-monitor-test-{}", std::process::id()), config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.server, "-f"]).arg(&self.config).args(args).output().unwrap()
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "monitor"]).stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "monitor"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The screen with what moves masked: braille dots and bar glyphs blanked, each number made `#`, runs of spaces
/// made one, trailing space cut.
fn masked(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        let mut row = String::new();
        let mut number = false;
        for c in line.chars() {
            let c =
                if ('\u{2800}'..='\u{28ff}').contains(&c) || "▁▂▃▄▅▆▇█".contains(c) { ' ' } else { c };
            if c.is_ascii_digit() || (number && c == '.') {
                if !number {
                    row.push('#');
                }
                number = true;
                continue;
            }
            number = false;
            if !(c == ' ' && row.ends_with(' ')) {
                row.push(c);
            }
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// Captures the pane until `done` holds for the screen, or fails after [`PATIENCE`] with the last screen.
fn wait_for_screen(tmux: &Tmux, what: &str, mut done: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let screen = tmux.capture();
        if done(&screen) {
            return screen;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}; the screen:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tmux_installed() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_monitor_shows_a_replayed_session_says_when_the_daemon_goes_and_quits_on_q() {
    if !tmux_installed() {
        common::skipped("tmux not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("monitor.sock");
    let bundle = common::repo_root().join("models/zoo/stars-synthetic.skb");
    let mut daemon = DaemonProcess::start(&[
        "--allow-unsigned",
        "--bundle",
        bundle.to_str().unwrap(),
        "--monitor-socket",
        socket.to_str().unwrap(),
    ]);
    daemon.wait_for(&["monitor socket ready"]);
    daemon.wait_for(&["daemon running"]);
    daemon.drain_link();

    let tmux = Tmux::new(dir.path());
    let command = format!("exec {SKELACT} monitor --socket {}", socket.display());
    let started = tmux.run(&["new-session", "-d", "-s", "monitor", "-x", "100", "-y", "30", &command]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    wait_for_screen(&tmux, "the monitor to attach", |s| s.contains("connected"));

    // Ten seconds of the session (its first action, sitting down, is at 1.7-5.2 s), sent at once.
    let messages: Vec<Message> = common::session_messages().into_iter().take(301).collect();
    daemon.send(&messages);
    // Done when every packet is decoded, the sensor is silent (health no_sensor after 2 s), an action is shown,
    // no window waits, and the masked screen holds still over three captures (the last window classified).
    let mut previous = Vec::new();
    let screen = wait_for_screen(&tmux, "the replay to be shown", |s| {
        previous.push(masked(s));
        let still = previous.len() >= 3 && previous.iter().rev().take(3).all(|p| *p == previous[previous.len() - 1]);
        let shown = s.contains("packets 301") && s.contains("health no_sensor") && s.contains("sitting down");
        shown && s.contains("queue 0/") && still
    });
    // The temporary folder's name changes from run to run.
    let screen = screen.replace(socket.to_str().unwrap(), "SOCKET");
    let golden_path = common::repo_root().join("board/cli/tests/golden/monitor.txt");
    if std::env::var_os("SKELACT_BLESS").is_some() {
        std::fs::write(&golden_path, masked(&screen)).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        masked(&screen),
        golden,
        "the screen (masked) differs from {} (SKELACT_BLESS=1 rewrites it); the screen was:\n{screen}",
        golden_path.display()
    );

    // The daemon goes away: the monitor says so and keeps trying.
    daemon.stop();
    wait_for_screen(&tmux, "the monitor to notice", |s| s.contains("disconnected, retrying"));
    assert!(tmux.alive());
    tmux.run(&["send-keys", "-t", "monitor", "q"]);
    let deadline = Instant::now() + PATIENCE;
    while tmux.alive() {
        assert!(Instant::now() < deadline, "q did not end the monitor:\n{}", tmux.capture());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_missing_socket_or_a_path_that_is_not_one_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("monitor.sock");
    let output = Command::new(SKELACT).args(["monitor", "--socket", missing.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no socket at") && stderr.contains("--monitor-socket"), "{stderr}");
    let file = common::write(dir.path(), "not-a-socket", b"");
    let output = Command::new(SKELACT).args(["monitor", "--socket", file.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("is not a socket"), "{stderr}");
}

//! `skelact monitor`: attaches to a running daemon's status socket and shows it live in the terminal (over SSH
//! too). The drawing is `skelact::monitor`; this file owns the terminal and the connection.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use skelact::monitor::render;
use skelact::monitor::snapshot::Line;
use skelact::monitor::view::MonitorView;
use skelact_device::daemon::monitor::DEFAULT_SOCKET;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The daemon's monitor socket (`[monitor] socket` in its config, or `skelact run --monitor-socket`).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

/// How long the monitor waits before trying a daemon that went away again.
const RETRY: Duration = Duration::from_secs(1);

/// How often the screen is redrawn when nothing arrives (the daemon sends 5 snapshots a second by default).
const FRAME: Duration = Duration::from_millis(100);

/// What the connection thread tells the screen.
enum News {
    Line(Line),
    Gone(String),
    Back,
}

pub fn run(args: MonitorArgs) -> anyhow::Result<()> {
    // The first connection is made before the terminal is taken, so that a wrong path or missing permission is
    // said plainly on stderr; later losses are shown on screen and retried.
    let stream = connect(&args.socket)?;
    let (news, screen_news) = mpsc::channel();
    let socket = args.socket.clone();
    std::thread::Builder::new()
        .name("monitor-socket".into())
        .spawn(move || follow(stream, &socket, &news))
        .context("cannot start the socket thread")?;
    let mut view = MonitorView::new(args.socket.display().to_string());
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let result = show(&mut terminal, &mut view, &screen_news);
    // Restores the terminal whatever happened (ratatui's panic hook does it on a panic).
    ratatui::restore();
    result
}

fn show(terminal: &mut ratatui::DefaultTerminal, view: &mut MonitorView, news: &Receiver<News>) -> anyhow::Result<()> {
    loop {
        while let Ok(item) = news.try_recv() {
            match item {
                News::Line(line) => view.apply(line),
                News::Gone(why) => view.disconnected(why),
                News::Back => view.reconnected(),
            }
        }
        terminal.draw(|frame| render::draw(frame, view))?;
        if event::poll(FRAME)? {
            if let Event::Key(key) = event::read()? {
                let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                if key.kind == KeyEventKind::Press && (ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc))
                {
                    return Ok(());
                }
            }
        }
    }
}

/// Connects, or says why not in words a field tester can act on.
fn connect(path: &Path) -> anyhow::Result<UnixStream> {
    use std::io::ErrorKind;
    match std::fs::metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            anyhow::bail!("{} is not a socket: give the daemon's `[monitor] socket` path", path.display())
        }
        _ => {}
    }
    UnixStream::connect(path).map_err(|error| match error.kind() {
        ErrorKind::NotFound => anyhow::anyhow!(
            "no socket at {}: is the daemon running, with `[monitor] socket = \"{}\"` in its config or \
             `skelact run --monitor-socket {}`?",
            path.display(),
            path.display(),
            path.display()
        ),
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{}: permission denied. The socket is open to the daemon's group only: add yourself to it \
             (`sudo usermod -aG skelact $USER`, then log in again)",
            path.display()
        ),
        ErrorKind::ConnectionRefused => {
            anyhow::anyhow!("{}: nothing is serving it (left behind by a daemon that stopped?)", path.display())
        }
        _ => anyhow::Error::new(error).context(format!("cannot connect to {}", path.display())),
    })
}

/// Reads lines while the daemon sends them; when it goes away, says so and retries every [`RETRY`]. Ends when the
/// screen is gone.
fn follow(first: UnixStream, path: &Path, news: &Sender<News>) {
    let mut stream = Some(first);
    loop {
        if let Some(connected) = stream.take() {
            let why = read_lines(connected, news);
            if news.send(News::Gone(why)).is_err() {
                return;
            }
        }
        std::thread::sleep(RETRY);
        match UnixStream::connect(path) {
            Ok(connected) => {
                if news.send(News::Back).is_err() {
                    return;
                }
                stream = Some(connected);
            }
            Err(error) => {
                if news.send(News::Gone(format!("{}: {error}", path.display()))).is_err() {
                    return;
                }
            }
        }
    }
}

/// Forwards each line until the connection ends; returns why it ended.
fn read_lines(stream: UnixStream, news: &Sender<News>) -> String {
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    loop {
        text.clear();
        match reader.read_line(&mut text) {
            Ok(0) => return "the daemon closed the socket".into(),
            Ok(_) => match Line::parse(&text) {
                Ok(line) => {
                    if news.send(News::Line(line)).is_err() {
                        return "quitting".into();
                    }
                }
                // A line of a newer daemon the monitor does not know: skipped, the next may be understood.
                Err(error) => tracing::debug!(%error, "monitor line not understood"),
            },
            Err(error) => return error.to_string(),
        }
    }
}

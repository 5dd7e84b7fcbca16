//! What the monitor's screen shows, updated from the socket's lines and the connection's state.

use std::collections::VecDeque;

use super::snapshot::{Decision, Line, Snapshot};

/// Windows of confidence history kept (wider than any terminal's sparkline needs).
pub const HISTORY: usize = 256;

/// The connection to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Connected; no snapshot yet.
    Waiting,
    Connected,
    /// The daemon went away (or refused us); retrying.
    Disconnected(String),
}

#[derive(Clone, Debug)]
pub struct MonitorView {
    /// The socket, for the title.
    pub socket: String,
    pub connection: Connection,
    pub snapshot: Option<Snapshot>,
    /// Best confidence of each window, oldest first, in percent (all bodies together, in the daemon's order).
    pub confidence: VecDeque<u64>,
    last_window: u64,
}

impl MonitorView {
    pub fn new(socket: impl Into<String>) -> Self {
        MonitorView {
            socket: socket.into(),
            connection: Connection::Waiting,
            snapshot: None,
            confidence: VecDeque::with_capacity(HISTORY),
            last_window: 0,
        }
    }

    /// Takes one line from the socket.
    pub fn apply(&mut self, line: Line) {
        match line {
            Line::Monitor(snapshot) => {
                // A restarted daemon counts windows from 1 again.
                if snapshot.decisions.last().is_some_and(|d| d.window < self.last_window) {
                    self.last_window = 0;
                    self.confidence.clear();
                }
                let seen = self.last_window;
                for decision in snapshot.decisions.iter().filter(|d| d.window > seen) {
                    if self.confidence.len() == HISTORY {
                        self.confidence.pop_front();
                    }
                    self.confidence.push_back((decision.confidence.clamp(0.0, 1.0) * 100.0).round() as u64);
                    self.last_window = decision.window;
                }
                self.snapshot = Some(*snapshot);
                self.connection = Connection::Connected;
            }
            Line::Refused { reason } => self.connection = Connection::Disconnected(format!("refused: {reason}")),
        }
    }

    /// The daemon went away; what is on screen stays, marked as old.
    pub fn disconnected(&mut self, why: impl Into<String>) {
        self.connection = Connection::Disconnected(why.into());
    }

    /// Connected again: waiting for the first snapshot.
    pub fn reconnected(&mut self) {
        self.connection = Connection::Waiting;
    }

    /// The latest window of each body in the snapshot, by body id.
    pub fn current_actions(&self) -> Vec<&Decision> {
        let Some(snapshot) = &self.snapshot else { return Vec::new() };
        let mut latest: Vec<&Decision> = Vec::new();
        for decision in &snapshot.decisions {
            match latest.iter_mut().find(|d| d.body_id == decision.body_id) {
                Some(slot) => *slot = decision,
                None => latest.push(decision),
            }
        }
        latest.sort_by_key(|d| d.body_id);
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::Snapshot;

    fn snapshot(windows: std::ops::RangeInclusive<u64>) -> Line {
        let decisions = windows
            .map(|w| Decision {
                window: w,
                body_id: (w % 2) as u32,
                label: format!("l{w}"),
                confidence: w as f64 / 100.0,
                unknown: false,
            })
            .collect();
        Line::Monitor(Box::new(Snapshot { decisions, ..Snapshot::default() }))
    }

    #[test]
    fn history_takes_each_window_once_and_restarts_with_the_daemon() {
        let mut view = MonitorView::new("s");
        view.apply(snapshot(1..=3));
        view.apply(snapshot(2..=5));
        assert_eq!(view.confidence, [1, 2, 3, 4, 5]);
        assert_eq!(view.current_actions().iter().map(|d| d.window).collect::<Vec<_>>(), [4, 5]);
        view.disconnected("gone");
        view.apply(snapshot(1..=1));
        assert_eq!((view.confidence.len(), &view.connection), (1, &Connection::Connected));
    }
}

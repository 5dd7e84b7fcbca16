//! Draws the monitor's screen: the bodies as stick figures (front view, NTU-25 bones), the current action of each
//! body with the confidence history and the unknown rate, link and pipeline counters, latency percentiles and the
//! latest events.
//!
//! Nothing but the stick figures and the sparkline moves position as values change, so a screen with its numbers,
//! braille dots and bar glyphs masked is stable (the end-to-end test compares such a screen with a golden file).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{self, Canvas};
use ratatui::widgets::{Block, Paragraph, Sparkline};
use ratatui::Frame;
use skelact_runtime::skeleton::{NTU_BONE_PARENTS, NTU_ROOT};

use super::snapshot::{Body, Snapshot};
use super::view::{Connection, MonitorView};

/// One colour per body, in body order.
const BODY_COLORS: [Color; 4] = [Color::Cyan, Color::Yellow, Color::Magenta, Color::Green];

/// Rows of the events list.
const EVENT_ROWS: u16 = 5;

pub fn draw(frame: &mut Frame, view: &MonitorView) {
    let [header, main, events, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(EVENT_ROWS + 2),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [figures, right] = Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main);
    let [action, history, link, pipeline] =
        Layout::vertical([Constraint::Length(6), Constraint::Length(5), Constraint::Length(5), Constraint::Min(3)])
            .areas(right);
    frame.render_widget(Paragraph::new(header_line(view)), header);
    let snapshot = view.snapshot.clone().unwrap_or_default();
    draw_bodies(frame, figures, &snapshot.bodies);
    frame.render_widget(
        Paragraph::new(action_lines(view, &snapshot)).block(Block::bordered().title(" Action ")),
        action,
    );
    draw_history(frame, history, view);
    frame.render_widget(Paragraph::new(link_lines(&snapshot)).block(Block::bordered().title(" Link ")), link);
    frame.render_widget(
        Paragraph::new(pipeline_lines(&snapshot)).block(Block::bordered().title(" Pipeline ")),
        pipeline,
    );
    frame.render_widget(Paragraph::new(event_lines(&snapshot)).block(Block::bordered().title(" Events ")), events);
    frame.render_widget(
        Paragraph::new(" q: quit   the socket is read-only; the daemon drops a monitor that stops reading")
            .style(Style::default().add_modifier(Modifier::DIM)),
        footer,
    );
}

fn header_line(view: &MonitorView) -> Line<'static> {
    // The state first and the socket path last: a long path or reason is what the terminal's width cuts.
    let (state, color) = match &view.connection {
        Connection::Waiting => ("waiting for the first snapshot".to_string(), Color::Yellow),
        Connection::Connected => ("connected".to_string(), Color::Green),
        Connection::Disconnected(why) => (format!("disconnected, retrying ({why})"), Color::Red),
    };
    let mut spans = vec![
        Span::styled(" skelact monitor  ", Style::default().add_modifier(Modifier::BOLD)),
        Span::styled(state, Style::default().fg(color)),
    ];
    if let (Some(s), Connection::Connected) = (&view.snapshot, &view.connection) {
        let health_color = if s.status.health == "ok" { Color::Green } else { Color::Yellow };
        spans.push(Span::raw("  health "));
        spans.push(Span::styled(s.status.health.clone(), Style::default().fg(health_color)));
        spans.push(Span::raw(format!("  up {:.1} s", s.status.uptime_ms as f64 / 1e3)));
    }
    spans.push(Span::raw(format!("  {}", view.socket)));
    Line::from(spans)
}

/// The bounds that show every joint with equal metres across and up: a terminal cell is about twice as tall as
/// wide and holds 2×4 braille dots, so dots are square and the spans follow the area's cells.
fn bounds(bodies: &[Body], area: Rect) -> ([f64; 2], [f64; 2]) {
    let joints = bodies.iter().flat_map(|b| b.joints.iter().flatten());
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for j in joints {
        for axis in 0..2 {
            lo[axis] = lo[axis].min(j[axis]);
            hi[axis] = hi[axis].max(j[axis]);
        }
    }
    if lo[0] > hi[0] {
        // No joint: a 2 m tall empty stage.
        (lo, hi) = ([-1.0, -1.0], [1.0, 1.0]);
    }
    let cells =
        (f64::from(area.width.saturating_sub(2).max(1)) * 2.0, f64::from(area.height.saturating_sub(2).max(1)) * 4.0);
    let metres_per_dot = ((hi[0] - lo[0]) / cells.0).max((hi[1] - lo[1]) / cells.1).max(1e-3) * 1.15;
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let half = [cells.0 * metres_per_dot / 2.0, cells.1 * metres_per_dot / 2.0];
    ([centre[0] - half[0], centre[0] + half[0]], [centre[1] - half[1], centre[1] + half[1]])
}

fn draw_bodies(frame: &mut Frame, area: Rect, bodies: &[Body]) {
    let title = match bodies.len() {
        0 => " Bodies: none tracked ".to_string(),
        n => format!(" Bodies: {n} (front view) "),
    };
    let (x_bounds, y_bounds) = bounds(bodies, area);
    let canvas = Canvas::default()
        .block(Block::bordered().title(title))
        .marker(Marker::Braille)
        .x_bounds(x_bounds)
        .y_bounds(y_bounds)
        .paint(|ctx| {
            for (i, body) in bodies.iter().enumerate() {
                let color = BODY_COLORS[i % BODY_COLORS.len()];
                for (v, &parent) in NTU_BONE_PARENTS.iter().enumerate() {
                    if v == NTU_ROOT {
                        continue;
                    }
                    if let (Some(Some(a)), Some(Some(b))) = (body.joints.get(v), body.joints.get(parent)) {
                        ctx.draw(&canvas::Line { x1: a[0], y1: a[1], x2: b[0], y2: b[1], color });
                    }
                }
            }
        });
    frame.render_widget(canvas, area);
}

fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

fn action_lines(view: &MonitorView, snapshot: &Snapshot) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let actions = view.current_actions();
    if actions.is_empty() {
        lines.push(Line::from(" no window classified yet"));
    }
    for decision in actions.iter().take(3) {
        let index = snapshot.bodies.iter().position(|b| b.body_id == decision.body_id);
        let color = index.map_or(Color::Gray, |i| BODY_COLORS[i % BODY_COLORS.len()]);
        let label =
            if decision.unknown { format!("unknown (best {})", decision.label) } else { decision.label.clone() };
        lines.push(Line::from(vec![
            Span::styled(format!(" body {} ", decision.body_id), Style::default().fg(color)),
            Span::styled(label, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!("  {:.2}", decision.confidence)),
        ]));
    }
    lines.push(Line::from(format!(
        " unknown rate {} of the latest {} windows",
        percent(snapshot.unknown_rate),
        snapshot.decisions.len()
    )));
    lines
}

fn draw_history(frame: &mut Frame, area: Rect, view: &MonitorView) {
    let width = usize::from(area.width.saturating_sub(2));
    let skip = view.confidence.len().saturating_sub(width);
    let data: Vec<u64> = view.confidence.iter().skip(skip).copied().collect();
    let sparkline = Sparkline::default()
        .block(Block::bordered().title(" Confidence per window (0-100%) "))
        .data(data)
        .max(100)
        .style(Style::default().fg(Color::Cyan));
    frame.render_widget(sparkline, area);
}

fn link_lines(s: &Snapshot) -> Vec<Line<'static>> {
    let st = &s.status;
    vec![
        Line::from(format!(
            " port {}  packets {}  dropped frames {}",
            if st.link_connected { "open" } else { "down" },
            st.packets_ok,
            st.dropped_frames
        )),
        Line::from(format!(
            " CRC errors {}  COBS errors {}  length {}  decode {}",
            st.crc_errors, st.cobs_errors, st.length_errors, st.decode_errors
        )),
        Line::from(format!(" connects {}  disconnects {}  tracks {}", st.connects, st.disconnects, st.active_tracks)),
    ]
}

fn pipeline_lines(s: &Snapshot) -> Vec<Line<'static>> {
    let st = &s.status;
    // The monitor's own counters last: a short terminal cuts them first.
    vec![
        Line::from(format!(
            " queue {}/{}  windows {} run, {} dropped  events {}",
            s.queue.windows, s.queue.capacity, st.windows_run, st.windows_dropped, st.events
        )),
        Line::from(format!(
            " p50/p99 ms  event {:.1}/{:.1}  window {:.1}/{:.1}",
            s.latency.p50_ms, s.latency.p99_ms, s.window_latency.p50_ms, s.window_latency.p99_ms
        )),
        Line::from(format!(
            " missing joints in {} windows, {} reconstructed (REC)",
            st.windows_with_missing, st.windows_reconstructed
        )),
        Line::from(format!(
            " monitors {}  snapshots skipped {}  dropped {}",
            s.monitor.clients, s.monitor.skipped, s.monitor.dropped_slow
        )),
    ]
}

fn event_lines(s: &Snapshot) -> Vec<Line<'static>> {
    if s.events.is_empty() {
        return vec![Line::from(" no event yet")];
    }
    let skip = s.events.len().saturating_sub(usize::from(EVENT_ROWS));
    s.events
        .iter()
        .skip(skip)
        .map(|e| {
            Line::from(format!(
                " {:>9.3} s  {:<5}  body {}  {} (action {}, {:.2}), {:.2}-{:.2} s",
                e.end_us as f64 / 1e6,
                e.phase,
                e.body_id,
                e.label,
                e.action_id,
                e.confidence,
                e.start_us as f64 / 1e6,
                e.end_us as f64 / 1e6
            ))
        })
        .collect()
}

/// The screen as text, one line per row: for tests and for a quick look without a terminal.
pub fn render_text(view: &MonitorView, width: u16, height: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut terminal = match ratatui::Terminal::new(backend) {
        Ok(terminal) => terminal,
        Err(error) => return format!("cannot render: {error}"),
    };
    if let Err(error) = terminal.draw(|frame| draw(frame, view)) {
        return format!("cannot render: {error}");
    }
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::Line as SocketLine;

    /// A snapshot line as the daemon writes it: one body standing with its arms out, one window, one event.
    fn line() -> SocketLine {
        let mut joints = vec![Some([0.0, 0.0, 2.5]); 25];
        joints[3] = Some([0.0, 0.6, 2.5]); // head
        joints[11] = Some([0.7, 0.3, 2.5]); // right hand, far out
        joints[7] = Some([-0.7, 0.3, 2.5]); // left hand
        joints[19] = Some([0.1, -0.9, 2.5]); // right foot
        joints[24] = None; // a missing thumb
        let json = serde_json::json!({
            "type": "monitor", "version": 1,
            "status": {"type": "status", "uptime_ms": 12345, "packets_ok": 301, "crc_errors": 2, "health": "ok", "link_connected": true, "windows_run": 30, "events": 1, "windows_with_missing": 5, "windows_reconstructed": 3},
            "queue": {"windows": 1, "capacity": 2},
            "latency": {"count": 1, "p50_ms": 41.5, "p99_ms": 80.25},
            "bodies": [{"body_id": 7, "joints": joints}],
            "decisions": [{"window": 30, "body_id": 7, "label_index": 0, "label": "sitting down", "confidence": 0.87, "unknown": false}],
            "unknown_rate": 0.1,
            "events": [{"type": "event", "phase": "begin", "body_id": 7, "action_id": 8, "label": "sitting down", "confidence": 0.87, "start_us": 1700000, "end_us": 2300000}],
            "monitor": {"clients": 1}
        });
        SocketLine::parse(&json.to_string()).unwrap()
    }

    #[test]
    fn a_snapshot_renders_the_figure_action_counters_and_events() {
        let mut view = MonitorView::new("/run/skelact/monitor.sock");
        view.apply(line());
        let screen = render_text(&view, 100, 30);
        for needle in [
            "connected",
            "health ok",
            "up 12.3 s",
            "body 7 sitting down  0.87",
            "unknown rate 10% of the latest 1 windows",
            "packets 301",
            "CRC errors 2",
            "queue 1/2",
            "p50/p99 ms  event 41.5/80.2  window 0.0/0.0",
            "missing joints in 5 windows, 3 reconstructed (REC)",
            "2.300 s  begin  body 7  sitting down (action 8, 0.87), 1.70-2.30 s",
            "Bodies: 1 (front view)",
        ] {
            assert!(screen.contains(needle), "no {needle:?} in\n{screen}");
        }
        // The figure: braille dots in the bodies' panel, spread over most of its rows (the arms reach far out).
        let rows_with_dots =
            screen.lines().filter(|l| l.chars().take(40).any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))).count();
        assert!(rows_with_dots >= 15, "{rows_with_dots} rows of the figure in\n{screen}");
        // And the confidence history: one bar.
        assert!(screen.contains('▇') || screen.contains('█'), "{screen}");
    }

    #[test]
    fn a_lost_daemon_is_said_so_and_the_last_screen_stays() {
        let mut view = MonitorView::new("/tmp/m.sock");
        let empty = render_text(&view, 100, 30);
        assert!(empty.contains("waiting for the first snapshot") && empty.contains("none tracked"), "{empty}");
        view.apply(line());
        view.disconnected("the daemon closed the socket");
        let screen = render_text(&view, 100, 30);
        assert!(screen.contains("disconnected, retrying (the daemon closed the socket)"), "{screen}");
        assert!(screen.contains("packets 301"), "{screen}");
        view.apply(SocketLine::Refused { reason: "4 monitors are attached".into() });
        assert!(render_text(&view, 100, 30).contains("refused: 4 monitors are attached"));
    }
}

//! Ground truth beside what the device reported, for people: the truth at an event's moment (the demo's live
//! lines) and the two as rows of letters on one time axis (the demo's and `classify`'s summaries).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::scoring::Segment;

/// What the ground truth says at `t_us` for `body_id`: the segment covering that moment, else the latest one that
/// ended before it (events come up to a window after their action, so "just ended" is worth saying), else `-`.
pub fn truth_at(truth: &[Segment], body_id: u32, t_us: u64) -> String {
    let of_body = || truth.iter().filter(|s| s.body_id == body_id);
    if let Some(now) = of_body().find(|s| s.start_us <= t_us && t_us <= s.end_us) {
        return format!("{} ({})", now.label, span(now));
    }
    match of_body().filter(|s| s.end_us < t_us).max_by_key(|s| s.end_us) {
        Some(last) => format!("- ({} ended {:.1} s earlier)", last.label, (t_us - last.end_us) as f64 / 1e6),
        None => "-".to_string(),
    }
}

fn span(segment: &Segment) -> String {
    format!("{:.1}-{:.1} s", segment.start_us as f64 / 1e6, segment.end_us as f64 / 1e6)
}

/// The truth and the predicted segments as two rows of at most `columns` characters over the same time axis, with a
/// scale line above and a legend below: each label gets a letter (`A`, `B`, …, in order of first appearance in the
/// truth, then in the predictions), `.` is no segment, `*` is a column that two labels share. Bodies are not told
/// apart. Empty when there is nothing to draw.
pub fn chart(truth: &[Segment], predicted: &[Segment], columns: usize) -> String {
    let all = || truth.iter().chain(predicted);
    let (Some(start), Some(end)) = (all().map(|s| s.start_us).min(), all().map(|s| s.end_us).max()) else {
        return String::new();
    };
    let columns = columns.max(10);
    // A column width of whole tenths of a second keeps the scale readable.
    let tenths = (end - start).div_ceil(100_000).max(1);
    let step_us = tenths.div_ceil(columns as u64).max(1) * 100_000;
    let width = ((end - start).div_ceil(step_us) as usize).max(1);

    let mut letters: BTreeMap<&str, char> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for segment in all() {
        if !letters.contains_key(segment.label.as_str()) {
            let letter = letter(order.len());
            letters.insert(&segment.label, letter);
            order.push(&segment.label);
        }
    }
    let row = |segments: &[Segment]| -> String {
        let mut cells = vec!['.'; width];
        for segment in segments {
            // A column covers [its start, the next column's start): a segment ending exactly on a column's start
            // does not reach into it.
            let first = ((segment.start_us - start) / step_us) as usize;
            let end = segment.end_us.saturating_sub(1).max(segment.start_us);
            let last = (((end - start) / step_us) as usize).min(width - 1);
            let mark = letters.get(segment.label.as_str()).copied().unwrap_or('?');
            for cell in &mut cells[first.min(width - 1)..=last] {
                *cell = if *cell == '.' || *cell == mark { mark } else { '*' };
            }
        }
        cells.into_iter().collect()
    };

    let mut text = String::new();
    // A tick every ten columns, labelled with its time in seconds.
    let mut scale = String::new();
    for column in (0..width).step_by(10) {
        let label = format!("{:.1}", (start + column as u64 * step_us) as f64 / 1e6);
        scale.push_str(&format!("{label:<10}"));
    }
    let _ = writeln!(text, "  {:<9}{}", "time (s)", scale.trim_end());
    let _ = writeln!(text, "  {:<9}{}", "truth", row(truth));
    let _ = writeln!(text, "  {:<9}{}", "device", row(predicted));
    let legend: Vec<String> = order.iter().map(|label| format!("{} {label}", letters[label])).collect();
    let _ =
        writeln!(text, "  one column = {:.1} s; . nothing, * two labels; {}", step_us as f64 / 1e6, legend.join(", "));
    text
}

/// `A`..`Z`, then `a`..`z`, then digits; `?` past those 62 labels.
fn letter(index: usize) -> char {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    LETTERS.get(index).map_or('?', |&b| char::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(label: &str, start_ms: u64, end_ms: u64) -> Segment {
        Segment { label: label.into(), body_id: 1, start_us: start_ms * 1000, end_us: end_ms * 1000 }
    }

    #[test]
    fn the_truth_at_a_moment_is_the_covering_segment_or_the_one_that_just_ended() {
        let truth = [segment("sit", 1000, 3000), segment("stand", 5000, 6000)];
        assert_eq!(truth_at(&truth, 1, 2_000_000), "sit (1.0-3.0 s)");
        assert_eq!(truth_at(&truth, 1, 3_500_000), "- (sit ended 0.5 s earlier)");
        assert_eq!(truth_at(&truth, 1, 500_000), "-");
        assert_eq!(truth_at(&truth, 2, 2_000_000), "-", "another body's truth is not this body's");
    }

    #[test]
    fn the_chart_draws_both_rows_on_one_axis_with_a_legend() {
        let truth = [segment("sit", 0, 1000), segment("stand", 2000, 2900)];
        let predicted = [segment("sit", 500, 1000), segment("wave", 900, 1400)];
        let text = chart(&truth, &predicted, 30);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  time (s) 0.0       1.0       2.0");
        assert_eq!(lines[1], "  truth    AAAAAAAAAA..........BBBBBBBBB");
        assert_eq!(lines[2], "  device   .....AAAA*CCCC...............");
        assert_eq!(lines[3], "  one column = 0.1 s; . nothing, * two labels; A sit, B stand, C wave");
        assert_eq!(chart(&[], &[], 30), "");
        // A long recording is drawn at a coarser step, never wider than asked.
        let long = [segment("sit", 0, 95_000)];
        let text = chart(&long, &[], 40);
        assert!(text.lines().take(3).all(|l| l.len() <= 2 + 9 + 40), "{text}");
        assert!(text.contains("one column = 2.4 s"), "{text}");
    }
}

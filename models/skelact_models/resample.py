"""Step 0 of `docs/preprocessing.md`, "the time grid": which sensor frame fills each point of the model's 30 Hz time
grid, the same integers as the device's `runtime/src/resample.rs` (the golden vectors in
`tests/fixtures/resample/cases.json` hold the two to it). Recordings made at another rate go through it before
windows are cut, exactly as on the device."""

from __future__ import annotations

MAX_FILL = 32
MODEL_RATE_MILLIHERTZ = 30_000
TOLERANCE = 0.75


def _trunc_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (Rust's `/`), not Python's floor."""
    q = abs(a) // b
    return q if a >= 0 else -q


def grid_frames(sequences, timestamps_us, model_rate_millihertz=MODEL_RATE_MILLIHERTZ, tolerance=TOLERANCE,
                nominal_rate_millihertz=0):
    """The grid frames the sensor frames `(sequences[i], timestamps_us[i])` make, in order, as
    `(grid_sequence, grid_time_us, i)`, `i` being the index of the sensor frame whose bodies fill the point, or None
    for a point no frame is near. A frame repeating the previous sequence number is skipped (the device refuses it)."""
    period = 10**12 // model_rate_millihertz
    nominal = 10**12 // nominal_rate_millihertz if nominal_rate_millihertz else 0
    out = []
    previous = None  # index of the previous frame taken
    mean = 0
    origin = next_point = grid_sequence = 0

    def point(k):
        return origin + (k * period) // 1000

    for i, (sequence, t) in enumerate(zip(sequences, timestamps_us)):
        if previous is not None and sequence == sequences[previous]:
            continue
        step = (sequence - sequences[previous]) % 2**32 if previous is not None else 0
        if previous is None or t < timestamps_us[previous] or step > 2**31 - 1:
            if previous is not None and step > 2**31 - 1:
                grid_sequence = (grid_sequence + 0x8000_0001) % 2**32
            origin, next_point, mean = t, 0, 0
            out.append((grid_sequence, t, i))
            grid_sequence = (grid_sequence + 1) % 2**32
            next_point = 1
            previous = i
            continue
        before = timestamps_us[previous]
        interval = (t - before) * 1000
        if step == 1 and interval > 0:
            if mean == 0:
                mean = interval
            elif interval <= mean * 4:
                mean = max(1, mean + _trunc_div(interval - mean, 16))
        sensor = max(nominal, mean) or period
        horizon = t + max(1, min(period, sensor) // 4000)
        # g(k) <= horizon exactly when k * period < (horizon - origin + 1) * 1000: counted, not stepped to.
        last = ((horizon - origin + 1) * 1000 - 1) // period
        due = max(0, last + 1 - next_point)
        if due > MAX_FILL:
            skipped = due - MAX_FILL
            next_point += skipped
            grid_sequence = (grid_sequence + skipped) % 2**32
            due = MAX_FILL
        reach = int(max(period, sensor) * float(tolerance) / 1000.0)
        for _ in range(due):
            g = point(next_point)
            to_before, to_now = abs(g - before), abs(g - t)
            frame, distance = (i, to_now) if to_now < to_before else (previous, to_before)
            out.append((grid_sequence, g, frame if distance <= reach else None))
            grid_sequence = (grid_sequence + 1) % 2**32
            next_point += 1
        previous = i
    return out

//! The bounded hand-over between the frame side (ingest thread) and the window side (inference thread).
//!
//! Frames are never dropped: the ingest thread handles every one as it arrives. What can back up is windows, when
//! inference is slower than windows come due. The queue holds at most `capacity` windows; pushing one more drops
//! the oldest queued window whole (it is the stalest evidence, and a fresh window describes the same body more
//! recently) and counts it. Control jobs (which bodies are still tracked) are never dropped.
//!
//! Tensor buffers circulate: the ingest thread takes one from the free list, fills it, queues it; the inference
//! thread hands it back after classifying. `capacity + 2` buffers exist (queued, one in flight, one being
//! filled), allocated once, so nothing is allocated per window.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use skelact_runtime::pipeline::WindowInfo;

use crate::model::TRACKS;

/// A preprocessed window waiting for inference.
#[derive(Debug)]
pub struct WindowJob {
    pub info: WindowInfo,
    /// The joint, bone and motion tensors, one after the other (3 × tensor length).
    pub tensors: Vec<f32>,
    /// When the frame that made this window due was decoded: the start of the latency measurement.
    pub frame_at: Instant,
}

/// Work for the inference thread.
#[derive(Debug)]
pub enum Job {
    Window(WindowJob),
    /// The body ids that still have a track: segments of the others are closed.
    Tracked(heapless::Vec<u32, TRACKS>),
}

#[derive(Debug)]
struct State {
    jobs: VecDeque<Job>,
    windows_queued: usize,
    free: Vec<Vec<f32>>,
    closed: bool,
    dropped: u64,
    /// The inference thread holds a job.
    busy: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct WindowQueue {
    capacity: usize,
    buffer_len: usize,
    state: Mutex<State>,
    changed: Condvar,
}

impl WindowQueue {
    /// A queue of at most `capacity` (at least 1) windows of `buffer_len` floats each.
    pub fn new(capacity: usize, buffer_len: usize) -> Self {
        let capacity = capacity.max(1);
        let free = (0..capacity + 2).map(|_| vec![0.0; buffer_len]).collect();
        WindowQueue {
            capacity,
            buffer_len,
            state: Mutex::new(State {
                // Windows, and at most one set of tracked bodies before and after each.
                jobs: VecDeque::with_capacity(2 * capacity + 2),
                windows_queued: 0,
                free,
                closed: false,
                dropped: 0,
                busy: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Both threads only move plain data under this lock; a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A buffer to fill. When none is free (which the buffer count rules out unless the inference thread keeps
    /// more than one), the oldest queued window is dropped to free one.
    pub fn take_buffer(&self) -> Vec<f32> {
        let mut state = self.lock();
        if let Some(buffer) = state.free.pop() {
            return buffer;
        }
        if let Some(buffer) = Self::drop_oldest_window(&mut state) {
            return buffer;
        }
        // Every buffer is out; one more keeps the frame side going (bounded by how many the other side holds).
        drop(state);
        vec![0.0; self.buffer_len]
    }

    /// Returns a buffer that was not queued (its window failed), or one the inference thread is done with.
    pub fn give_back(&self, buffer: Vec<f32>) {
        let mut state = self.lock();
        if state.free.len() < self.capacity + 2 {
            state.free.push(buffer);
        }
    }

    /// Queues a window, dropping the oldest queued one if the queue is full. Returns whether one was dropped.
    pub fn push_window(&self, job: WindowJob) -> bool {
        let mut state = self.lock();
        let mut dropped = false;
        if state.windows_queued >= self.capacity {
            if let Some(buffer) = Self::drop_oldest_window(&mut state) {
                state.free.push(buffer);
                dropped = true;
            }
        }
        state.jobs.push_back(Job::Window(job));
        state.windows_queued += 1;
        drop(state);
        self.changed.notify_all();
        dropped
    }

    /// Queues a control job; these are never dropped.
    pub fn push_tracked(&self, bodies: heapless::Vec<u32, TRACKS>) {
        let mut state = self.lock();
        // Consecutive sets coalesce: a set that follows another with no window between them supersedes it. A set
        // queued before some windows keeps its place: moving it behind them (or dropping it for the newer one)
        // starved retirement whenever windows kept coming, so the decisions of bodies long gone filled the body
        // table and windows of new bodies failed. At most one set sits behind each queued window, so this is bounded.
        if let Some(last @ Job::Tracked(_)) = state.jobs.back_mut() {
            *last = Job::Tracked(bodies);
        } else {
            state.jobs.push_back(Job::Tracked(bodies));
        }
        drop(state);
        self.changed.notify_all();
    }

    fn drop_oldest_window(state: &mut State) -> Option<Vec<f32>> {
        let index = state.jobs.iter().position(|job| matches!(job, Job::Window(_)))?;
        match state.jobs.remove(index) {
            Some(Job::Window(job)) => {
                state.windows_queued -= 1;
                state.dropped += 1;
                // Two sets of tracked bodies that the dropped window separated are now consecutive: the later one
                // supersedes the earlier (see `push_tracked`), which keeps sets at most one per queued window.
                if index > 0
                    && matches!(state.jobs.get(index - 1), Some(Job::Tracked(_)))
                    && matches!(state.jobs.get(index), Some(Job::Tracked(_)))
                {
                    state.jobs.remove(index - 1);
                }
                tracing::debug!(
                    body_id = job.info.body_id,
                    end_us = job.info.end_us,
                    "inference behind: window dropped"
                );
                Some(job.tensors)
            }
            _ => None,
        }
    }

    /// The next job, waiting for one; `None` once the queue is closed and empty. Marks the consumer busy until
    /// its next call.
    pub fn pop(&self) -> Option<Job> {
        let mut state = self.lock();
        state.busy = false;
        self.changed.notify_all();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                if matches!(job, Job::Window(_)) {
                    state.windows_queued -= 1;
                }
                state.busy = true;
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// No more jobs will come; the consumer finishes those queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Windows dropped so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Windows waiting.
    pub fn windows_queued(&self) -> usize {
        self.lock().windows_queued
    }

    /// Whether nothing is queued and the consumer is not working on a job.
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        state.jobs.is_empty() && !state.busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(queue: &WindowQueue, body_id: u32) -> WindowJob {
        WindowJob {
            info: WindowInfo {
                body_id,
                partner_id: None,
                start_us: 0,
                end_us: u64::from(body_id),
                missing: Default::default(),
            },
            tensors: queue.take_buffer(),
            frame_at: Instant::now(),
        }
    }

    /// Pops every job of a closed queue, giving window buffers back: "w<body>" per window, "t[<bodies>]" per set.
    fn drain(queue: &WindowQueue) -> Vec<String> {
        let mut order = Vec::new();
        while let Some(job) = queue.pop() {
            match job {
                Job::Window(w) => {
                    order.push(format!("w{}", w.info.body_id));
                    queue.give_back(w.tensors);
                }
                Job::Tracked(t) => order.push(format!("t{:?}", t.as_slice())),
            }
        }
        order
    }

    #[test]
    fn a_full_queue_drops_its_oldest_window_and_never_a_control_job() {
        let queue = WindowQueue::new(2, 4);
        assert!(!queue.push_window(job(&queue, 1)));
        queue.push_tracked(heapless::Vec::from_slice(&[1]).unwrap());
        assert!(!queue.push_window(job(&queue, 2)));
        assert!(queue.push_window(job(&queue, 3)));
        assert!(queue.push_window(job(&queue, 4)));
        assert_eq!((queue.dropped(), queue.windows_queued()), (2, 2));
        queue.close();
        assert_eq!(drain(&queue), ["t[1]", "w3", "w4"]);
        assert!(queue.is_idle());
    }

    #[test]
    fn tracked_sets_keep_their_place_behind_windows_and_coalesce_when_consecutive() {
        let queue = WindowQueue::new(8, 8);
        let set = |ids: &[u32]| heapless::Vec::from_slice(ids).unwrap();
        assert!(!queue.push_window(job(&queue, 1)));
        queue.push_tracked(set(&[1]));
        queue.push_tracked(set(&[1, 2])); // supersedes the set just before it
        assert!(!queue.push_window(job(&queue, 2)));
        queue.push_tracked(set(&[2])); // behind window 2: body 1's retirement above is not held back by it
        queue.close();
        assert_eq!(drain(&queue), ["w1", "t[1, 2]", "w2", "t[2]"]);

        // Windows dropped from a full queue leave no pile of sets behind: sets stay at most one per window.
        let queue = WindowQueue::new(2, 8);
        for body in 1..=20 {
            queue.push_window(job(&queue, body));
            queue.push_tracked(set(&[body]));
        }
        queue.close();
        assert_eq!(drain(&queue), ["t[18]", "w19", "t[19]", "w20", "t[20]"]);
    }

    #[test]
    fn buffers_are_recycled_not_allocated() {
        let queue = WindowQueue::new(1, 8);
        let mut addresses = std::collections::BTreeSet::new();
        for i in 0..20 {
            let job = job(&queue, i);
            addresses.insert(job.tensors.as_ptr() as usize);
            queue.push_window(job);
            if let Some(Job::Window(w)) = queue.pop() {
                queue.give_back(w.tensors);
            }
        }
        assert!(addresses.len() <= 3, "{} distinct buffers", addresses.len());
    }
}
